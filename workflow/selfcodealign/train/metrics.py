"""Real (non-pad) tokens, tokens/s, the padding share, and the loss curve as CSV."""

from __future__ import annotations

import csv
import os
import time
from pathlib import Path

import torch
from transformers import TrainerCallback
from trl import SFTTrainer

from selfcodealign.train.prompt import IGNORE_INDEX

CSV_FIELDS = (
    "step",
    "epoch",
    "loss",
    "learning_rate",
    "tokens",
    "loss_tokens",
    "padded_tokens",
    "tokens_per_s",
    "run",
)


class TokenMeter:
    """Token counts over all processes: real (non-pad) input, trained (labelled) and padded."""

    KEYS = ("tokens", "loss_tokens", "padded_tokens")

    def __init__(self, tokens: int = 0, loss_tokens: int = 0, padded_tokens: int = 0):
        self.start = {"tokens": tokens, "loss_tokens": loss_tokens, "padded_tokens": padded_tokens}
        self.counts = dict(self.start)
        self.started_at: float | None = None

    def add(self, inputs: dict, accelerator) -> None:
        ids = inputs["input_ids"]
        # Padding-free batches carry no attention mask and hold no padding.
        real = inputs["attention_mask"].sum() if "attention_mask" in inputs else ids.numel()
        local = torch.stack(
            [
                torch.as_tensor(real, device=ids.device, dtype=torch.int64),
                (inputs["labels"] != IGNORE_INDEX).sum().to(torch.int64),
                torch.as_tensor(ids.numel(), device=ids.device, dtype=torch.int64),
            ]
        )
        total = accelerator.gather(local[None]).sum(0).tolist()
        for key, value in zip(self.KEYS, total, strict=True):
            self.counts[key] += int(value)

    def run_totals(self) -> dict[str, int]:
        """Counts of this run alone (a resumed run starts from the checkpoint's)."""
        return {key: self.counts[key] - self.start[key] for key in self.counts}

    def elapsed(self) -> float:
        return time.perf_counter() - self.started_at if self.started_at else 0.0

    def rates(self) -> dict[str, float]:
        run = self.run_totals()
        elapsed = self.elapsed()
        padded = run["padded_tokens"]
        return {
            "tokens_per_s": run["tokens"] / elapsed if elapsed else 0.0,
            "padded_tokens_per_s": padded / elapsed if elapsed else 0.0,
            "padding_share": 1 - run["tokens"] / padded if padded else 0.0,
        }


class CountingSFTTrainer(SFTTrainer):
    """SFTTrainer that feeds every micro-batch it trains on to a ``TokenMeter``."""

    def __init__(self, *args, meter: TokenMeter, **kwargs):
        super().__init__(*args, **kwargs)
        self.meter = meter

    def training_step(self, model, inputs, *args, **kwargs):
        if self.meter.started_at is None:
            self.meter.started_at = time.perf_counter()
        self.meter.add(inputs, self.accelerator)
        return super().training_step(model, inputs, *args, **kwargs)


class LossCsv(TrainerCallback):
    """Appends one row per logged step to ``loss.csv`` (main process), flushed as it goes."""

    def __init__(self, path: str | os.PathLike, meter: TokenMeter, run: int):
        self.path = Path(path)
        self.meter = meter
        self.run = run

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs or "loss" not in logs:
            return
        new = not self.path.exists() or self.path.stat().st_size == 0
        with open(self.path, "a", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
            if new:
                writer.writeheader()
            writer.writerow(
                {
                    "step": state.global_step,
                    "epoch": round(state.epoch or 0.0, 4),
                    "loss": logs["loss"],
                    "learning_rate": logs.get("learning_rate", ""),
                    **self.meter.counts,
                    "tokens_per_s": round(self.meter.rates()["tokens_per_s"], 1),
                    "run": self.run,
                }
            )


def read_loss_csv(path: str | os.PathLike) -> list[dict[str, str]]:
    if not Path(path).exists():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def trim_loss_csv(path: str | os.PathLike, step: int) -> list[dict[str, str]]:
    """Keep the rows up to ``step`` (the checkpoint a rerun resumes from); rows after it are
    redone by the rerun. Returns the kept rows."""
    rows = [row for row in read_loss_csv(path) if int(row["step"]) <= step]
    tmp = Path(f"{path}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)
    return rows
