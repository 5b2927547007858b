"""Benchmark instruction tuning: real tokens/s and padding share, packed against unpacked.

Run from the repository root (about two minutes on a 2-core CPU):

    .venv/bin/python benchmarks/train.py
    .venv/bin/python benchmarks/train.py --steps 10 --json /tmp/train.json

It builds the tiny model of the tests (tests/tiny_model.py: a random-weight Qwen2, hidden 64,
2 layers, BPE tokenizer trained on this repository) and SFT rows from the few-shot pool's
instructions and responses, each response cut at a random line so that lengths spread the
way real data does (rows over ``--max-length`` are dropped, as in training). Then it runs
``finetune`` twice with the same effective batch, seed and so the same samples in the same
order: padded batches, and TRL's padding-free batches (``packing: true``). Each run reports
real (non-pad) tokens/s, all positions/s and the padding share from the run's own counters
(``training.json``); the first step's time is included in both.

On a GPU (when torch sees CUDA) the same script runs in bf16 on the GPU; pass
``--attention flash_attention_2`` where flash-attn is installed. The figures measure the
training framework on a toy model, not a real model's speed; it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow"))
sys.path.insert(0, str(REPO / "tests"))


def build_rows(path: Path, count: int, seed: int) -> None:
    """``count`` SFT rows from the few-shot pool, each response cut at a random line."""
    from selfcodealign.instruct.pool import load_pool

    rng = random.Random(seed)
    pool = load_pool()
    with open(path, "w", encoding="utf-8") as handle:
        for _ in range(count):
            example = rng.choice(pool)
            lines = example.response.splitlines()
            response = "\n".join(lines[: rng.randint(max(1, len(lines) // 4), len(lines))])
            row = {"instruction": example.instruction, "response": response}
            handle.write(json.dumps(row) + "\n")


def run(model: Path, data: Path, work: Path, packing: bool, args) -> dict:
    from selfcodealign.train.finetune import finetune

    settings = {
        "method": "full",
        "learning_rate": 1e-5,
        "lr_scheduler": "linear",
        "warmup_ratio": 0.05,
        "effective_batch_size": args.effective_batch,
        "per_device_batch_size": args.per_device_batch,
        "max_length": args.max_length,
        "epochs": 1,
        "max_steps": args.steps,
        "optimizer": "adafactor",
        "bf16": "auto",
        "weights_dtype": "float32",
        "attention": args.attention,
        "dropout": 0.0,
        "max_grad_norm": None,
        "gradient_checkpointing": False,
        "lora": {"r": 16, "alpha": 32, "dropout": 0.0, "target_modules": "all-linear"},
        "merge_lora": True,
        "packing": packing,
        "save_steps": 10_000,
        "save_total_limit": 1,
        "cleanup_checkpoints": True,
        "gpus": 1,
        "accelerate_config": "ddp",
        "seed": args.seed,
    }
    started = time.perf_counter()
    summary = finetune(settings, str(model), str(data), work / ("packed" if packing else "padded"))
    summary["wall_s"] = time.perf_counter() - started
    return summary


def table(results: dict[str, dict]) -> str:
    head = (
        f"{'batches':<12}{'steps':>6}{'real tokens':>13}{'positions':>11}"
        f"{'padding':>9}{'real tok/s':>12}{'positions/s':>13}{'wall s':>8}"
    )
    lines = [head, "-" * len(head)]
    for name, summary in results.items():
        run_ = summary["this_run"]
        lines.append(
            f"{name:<12}{summary['global_step']:>6}{run_['tokens']:>13}{run_['padded_tokens']:>11}"
            f"{run_['padding_share']:>9.1%}{run_['tokens_per_s']:>12.0f}"
            f"{run_['padded_tokens_per_s']:>13.0f}{summary['wall_s']:>8.1f}"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=8, help="optimizer steps per run")
    parser.add_argument("--effective-batch", type=int, default=16)
    parser.add_argument("--per-device-batch", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=1280)
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--attention", default=None, help="attention implementation")
    parser.add_argument("--seed", type=int, default=3407)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    import torch
    from tiny_model import build_tiny_model

    texts = [p.read_text() for p in (REPO / "workflow").rglob("*.py")]
    texts += [p.read_text() for p in (REPO / "workflow" / "prompts").glob("*.yaml")]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = build_tiny_model(work / "model", texts)
        data = work / "sft.jsonl"
        build_rows(data, args.rows, args.seed)
        results = {
            "padded": run(model, data, work, False, args),
            "padding-free": run(model, data, work, True, args),
        }
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    packed = results["padding-free"]
    print(
        f"\ndevice: {device}, torch threads {torch.get_num_threads()}, bf16 {packed['bf16']};"
        f" effective batch {args.effective_batch} = {packed['batch']['per_device']} per device"
        f" x {packed['batch']['accumulation']} accumulation; max length {args.max_length};"
        f" rows {packed['data']['used']} used of {packed['data']['read']}"
    )
    print(f"padding-free: {packed['packing']['reason']}\n")
    print(table(results))
    speedup = packed["this_run"]["tokens_per_s"] / results["padded"]["this_run"]["tokens_per_s"]
    print(f"\npadding-free / padded real tokens/s: {speedup:.2f}x")
    if args.json:
        args.json.write_text(json.dumps({"device": device, "runs": results}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
