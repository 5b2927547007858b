"""Fine-tune the base model on sft.jsonl with TRL's SFTTrainer: full or LoRA, resumable.

The paper's recipe lives in the config defaults (Adafactor, lr 1e-5, linear schedule, warmup
0.05, effective batch 64, max length 1280, dropout 0, no clipping). The work directory holds
the checkpoints, the live loss.csv and fingerprint.json; a rerun resumes from its latest
complete checkpoint when the fingerprint (data, recipe, base model, seed) is unchanged.
The output directory gets the final model, ``loss.csv`` and ``training.json``, written last;
with fewer usable pairs than ``min_pairs`` it gets ``skipped.json`` alone (``skip``).
"""

from __future__ import annotations

import gc
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from selfcodealign.train import fingerprint, skip
from selfcodealign.train.batching import BatchPlan, plan_batch
from selfcodealign.train.checkpoints import (
    checkpoint_step,
    latest_checkpoint,
    remove_all,
    remove_torn,
)
from selfcodealign.train.data import load_token_rows
from selfcodealign.train.launch import launched_world_size
from selfcodealign.train.model import (
    load_model,
    load_tokenizer,
    resolve_model,
    training_config,
    use_bf16,
)
from selfcodealign.train.prompt import attach_chat_template

log = logging.getLogger(__name__)
SUMMARY = "training.json"
LOSS_CSV = "loss.csv"
STAGED_WEIGHTS = "trained-weights"


def work_dir(output: str | Path, checkpoints: str | Path | None) -> Path:
    return Path(checkpoints) if checkpoints else Path(output) / "checkpoints"


def _sft_config(settings: dict[str, Any], plan: BatchPlan, work: Path, seed: int, bf16: bool):
    import torch
    from trl import SFTConfig

    return SFTConfig(
        output_dir=str(work),
        per_device_train_batch_size=plan.per_device,
        gradient_accumulation_steps=plan.accumulation,
        num_train_epochs=settings["epochs"],
        max_steps=settings["max_steps"] or -1,
        learning_rate=settings["learning_rate"],
        lr_scheduler_type=settings["lr_scheduler"],
        # A float below 1 is a share of the total steps.
        warmup_steps=settings["warmup_ratio"],
        optim=settings["optimizer"],
        # 0 turns clipping off (the paper clips nothing).
        max_grad_norm=settings["max_grad_norm"] or 0.0,
        bf16=bf16,
        fp16=False,
        gradient_checkpointing=settings["gradient_checkpointing"],
        # Rows are already within max_length: longer ones were dropped and counted.
        max_length=None,
        logging_steps=1,
        save_strategy="steps",
        save_steps=settings["save_steps"],
        save_total_limit=settings["save_total_limit"],
        seed=seed,
        data_seed=seed,
        report_to="none",
        disable_tqdm=True,
        dataloader_pin_memory=torch.cuda.is_available(),
        ddp_find_unused_parameters=False,
    )


def _lora_config(settings: dict[str, Any]):
    from peft import LoraConfig

    lora = settings["lora"]
    targets = lora["target_modules"]
    return LoraConfig(
        r=lora["r"],
        lora_alpha=lora["alpha"],
        lora_dropout=lora["dropout"],
        target_modules=targets if isinstance(targets, list) else str(targets),
        task_type="CAUSAL_LM",
    )


def _resume_point(state, work: Path, run_fingerprint) -> tuple[Path | None, list[dict]]:
    """The checkpoint to resume from and the loss.csv rows up to it (the main process tidies).

    Only checkpoints of this training (``run_fingerprint()``, called on the main process) are
    resumed; others are removed with their loss rows and the run starts over.
    """
    from selfcodealign.train.metrics import read_loss_csv, trim_loss_csv

    csv_path = work / LOSS_CSV
    if state.is_main_process:
        work.mkdir(parents=True, exist_ok=True)
        remove_torn(work)
        current = run_fingerprint()
        resume = latest_checkpoint(work)
        stale = fingerprint.mismatch(work, current) if resume else None
        if stale:
            log.warning("%s - starting over", stale)
            remove_all(work)
            resume = None
        if resume:
            trim_loss_csv(csv_path, checkpoint_step(resume))
        else:
            csv_path.unlink(missing_ok=True)
        # Before the first checkpoint: every checkpoint in ``work`` is of this fingerprint.
        fingerprint.write(work, current)
    state.wait_for_everyone()
    return latest_checkpoint(work), read_loss_csv(csv_path)


def _last_loss(path: Path) -> float | None:
    from selfcodealign.train.metrics import read_loss_csv

    rows = read_loss_csv(path)
    return float(rows[-1]["loss"]) if rows else None


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("torch", "transformers", "trl", "peft", "accelerate"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def _packing(settings: dict[str, Any], model) -> dict[str, Any]:
    from selfcodealign.train.packing import padding_free_support

    packing = {"requested": settings["packing"], "used": False, "reason": "not requested"}
    if settings["packing"]:
        used, reason = padding_free_support(model)
        packing.update(used=used, reason=reason)
        level = logging.INFO if used else logging.WARNING
        log.log(level, "padding-free packing %s: %s", "on" if used else "off", reason)
    return packing


def _train(settings, model_path, tokenizer, rows, args, resume, meter, run, callbacks) -> dict:
    """Run SFTTrainer (every process) and save what it trained; returns facts for the summary."""
    from datasets import Dataset

    from selfcodealign.train.metrics import CountingSFTTrainer, LossCsv

    lora = settings["method"] == "lora"
    model, dropout_changes = load_model(model_path, settings)
    packing = _packing(settings, model)
    args.padding_free = packing["used"]
    trainer = CountingSFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=_lora_config(settings) if lora else None,
        callbacks=[LossCsv(Path(args.output_dir) / LOSS_CSV, meter, run), *callbacks],
        meter=meter,
    )
    result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    staged = Path(args.output_dir) / STAGED_WEIGHTS
    trainer.save_model(str(staged))
    return {
        "packing": packing,
        "dropout_overridden": dropout_changes,
        "global_step": trainer.state.global_step,
        "epoch": trainer.state.epoch,
        "train_runtime_s": result.metrics.get("train_runtime"),
        "staged": staged,
    }


def _finish(settings, model_path, tokenizer, staged: Path, work: Path, output: Path) -> None:
    """Main process: the final model directory, loss.csv, and tidying the work directory."""
    from selfcodealign.train.export import export_full, export_lora

    output.mkdir(parents=True, exist_ok=True)
    (output / skip.MARKER).unlink(missing_ok=True)  # an earlier run's, with less data
    if settings["method"] == "lora":
        config, _ = training_config(model_path, settings)
        export_lora(staged, model_path, config, tokenizer, output, settings["merge_lora"])
    else:
        export_full(staged, model_path, tokenizer, output)
    shutil.copy(work / LOSS_CSV, output / LOSS_CSV)
    shutil.rmtree(staged)
    if settings["cleanup_checkpoints"]:
        remove_all(work)
        for name in (LOSS_CSV, fingerprint.FINGERPRINT, "README.md"):  # README.md: TRL's model card
            (work / name).unlink(missing_ok=True)
        if work.is_dir() and not any(work.iterdir()):
            work.rmdir()


def finetune(
    settings: dict[str, Any],
    model_path: str,
    data_path: str,
    output: str | Path,
    checkpoints: str | Path | None = None,
    seed: int = 3407,
    callbacks: Sequence = (),
    revision: str | None = None,
) -> dict[str, Any] | None:
    """Train, export and return the summary (None on processes other than the main one).

    With fewer usable pairs than ``settings["min_pairs"]`` nothing trains: ``output`` gets the
    marker of ``skip`` alone, and the marker is returned instead of the summary.
    """
    import torch
    from accelerate import PartialState

    from selfcodealign.jsonl import write_json
    from selfcodealign.train.metrics import TokenMeter

    output, work = Path(output), work_dir(output, checkpoints)
    seed = settings["seed"] if settings.get("seed") is not None else seed
    plan = plan_batch(
        settings["effective_batch_size"], settings["per_device_batch_size"], launched_world_size()
    )
    log.info(plan.describe())
    # Built before the model (under ZeRO-3 it makes from_pretrained load the weights sharded);
    # it also starts the distributed state.
    args = _sft_config(settings, plan, work, seed, use_bf16(settings["bf16"]))
    state = PartialState()
    if state.num_processes != plan.world_size:
        # Otherwise each process would train alone and they would overwrite each other.
        raise RuntimeError(
            f"{plan.world_size} processes were launched but the distributed state has"
            f" {state.num_processes} (on CPU, set ACCELERATE_USE_CPU=1)"
        )
    model_id, model_path = model_path, resolve_model(model_path, revision)
    tokenizer = load_tokenizer(model_path)
    # Every tokenizer saved from here on (checkpoints, adapter, model) carries the template.
    attach_chat_template(tokenizer)
    data = load_token_rows(data_path, tokenizer, settings["max_length"])
    too_few = skip.check(len(data.rows), settings["min_pairs"], data_path)
    if too_few:
        if not state.is_main_process:
            return None
        skip.write_marker(output, too_few)
        return too_few
    resume, kept = _resume_point(
        state, work, lambda: fingerprint.fingerprint(settings, model_id, data_path, seed, revision)
    )
    last = kept[-1] if kept else {}
    meter = TokenMeter(**{k: int(last.get(k, 0)) for k in TokenMeter.KEYS})
    run = max((int(row["run"]) for row in kept), default=0) + 1
    if resume:
        log.info("resuming from %s (run %d)", resume, run)

    trained = _train(
        settings, model_path, tokenizer, data.rows, args, resume, meter, run, callbacks
    )
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    state.wait_for_everyone()
    if not state.is_main_process:
        return None

    _finish(settings, model_path, tokenizer, trained.pop("staged"), work, output)
    summary = {
        "method": settings["method"],
        "batch": plan.as_dict(),
        "bf16": args.bf16,
        **trained,
        "data": data.summary(),
        "resumed_from": resume.name if resume else None,
        "run": run,
        "final_loss": _last_loss(output / LOSS_CSV),
        "tokens": meter.counts,
        "this_run": {**meter.run_totals(), **meter.rates()},
        "settings": settings,
        "seed": seed,
        "versions": _versions(),
    }
    # Written last: its presence means the directory is complete.
    write_json(output / SUMMARY, summary)
    log.info(
        "finetune done: step %d, %d real tokens at %.0f tokens/s, padding share %.3f",
        summary["global_step"],
        meter.counts["tokens"],
        summary["this_run"]["tokens_per_s"],
        summary["this_run"]["padding_share"],
    )
    return summary
