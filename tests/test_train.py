"""Instruction tuning on CPU with a tiny model built here: full and LoRA training, the label
mask, the chat template, effective-batch arithmetic, the dropout override, packing, and resume
after a SIGKILL. Tests marked ``gpu`` run the same on CUDA in bf16 (scripts/gpu_tests.sh)."""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import SHARED
from selfcodealign.train.batching import BatchError, plan_batch
from selfcodealign.train.prompt import (
    IGNORE_INDEX,
    SYSTEM,
    attach_chat_template,
    chat_template,
    format_prompt,
    tokenize_example,
)
from transformers import TrainerCallback

REPO = Path(__file__).resolve().parents[1]
CUDA = torch.cuda.is_available()
gpu = pytest.mark.skipif(not CUDA, reason="needs a CUDA device")

# The paper's recipe, as the config schema's finetune section gives it (checked below once the
# schema has the section); tests override what a few CPU steps need.
PAPER = {
    "method": "full",
    # null: the workflow picks 1e-5 or 2e-5 per training (tests/test_experiments.py).
    "learning_rate": None,
    "lr_scheduler": "linear",
    "warmup_ratio": 0.05,
    "effective_batch_size": 64,
    "per_device_batch_size": 2,
    "max_length": 1280,
    "min_pairs": 1,
    "epochs": 4,
    "max_steps": None,
    "optimizer": "adafactor",
    "bf16": "auto",
    "weights_dtype": "bfloat16",  # pure bf16, as the paper trained
    "attention": None,
    "dropout": 0.0,
    "max_grad_norm": None,
    "gradient_checkpointing": True,
    "lora": {"r": 16, "alpha": 32, "dropout": 0.0, "target_modules": "all-linear"},
    "merge_lora": True,
    "packing": False,
    "save_steps": 50,
    "save_total_limit": 2,
    "cleanup_checkpoints": True,
    "gpus": 1,
    "accelerate_config": "ddp",
    "seed": None,
}
# A few fast CPU steps: lr high enough that the weights visibly move.
QUICK = {
    "effective_batch_size": 4,
    "per_device_batch_size": 2,
    "max_length": 384,
    "max_steps": 3,
    "learning_rate": 1e-3,
    "gradient_checkpointing": False,
    "save_steps": 2,
    "weights_dtype": "float32",  # CPU
}


def settings(**overrides) -> dict:
    from selfcodealign.config import validate_section

    return {**validate_section({}, "finetune"), **QUICK, **overrides}


# SPEC.md, "Instruction tuning", as written there (checked against the file when it is beside
# the repository): the paper recipe's numbers are read from this text.
SPEC_RECIPE = (
    "Full fine-tuning (paper), bf16, Adafactor, lr 1e-5 for self-generated data (2e-5 for data\n"
    "  from another model), linear schedule, warmup ratio 0.05, effective batch 64, max length "
    "1280,\n  dropout forced to 0"
)


def spec_recipe() -> dict:
    text = " ".join(SPEC_RECIPE.split())
    number = lambda pattern: float(re.search(pattern, text).group(1))  # noqa: E731
    return {
        "method": "full" if text.startswith("Full fine-tuning") else "lora",
        "optimizer": "adafactor" if "Adafactor" in text else None,
        "lr_scheduler": re.search(r"(\w+) schedule", text).group(1),
        "warmup_ratio": number(r"warmup ratio ([\d.]+)"),
        "effective_batch_size": int(number(r"effective batch (\d+)")),
        "max_length": int(number(r"max length (\d+)")),
        "dropout": number(r"dropout forced to ([\d.]+)"),
        "learning_rates": (number(r"lr ([\d.e-]+) for self"), number(r"\(([\d.e-]+) for data")),
    }


def test_schema_defaults_are_the_paper_recipe():
    from selfcodealign.config import validate_section
    from selfcodealign.experiments import OTHER_DATA_LR, SELF_DATA_LR

    spec_md = SHARED / "SPEC.md"
    if spec_md.exists():
        assert " ".join(SPEC_RECIPE.split()) in " ".join(spec_md.read_text().split())
    expected = spec_recipe()
    defaults = validate_section({}, "finetune")
    for key, value in expected.items():
        if key != "learning_rates":
            assert defaults[key] == value, key
    assert expected["learning_rates"] == (SELF_DATA_LR, OTHER_DATA_LR)
    assert defaults["max_grad_norm"] is None  # "no gradient clipping"
    assert defaults == PAPER


# --- prompt, label mask, chat template -------------------------------------------------------

INSTRUCTION = "Write a function `add(a, b)` that returns the sum.\nKeep it short."
RESPONSE = "```python\ndef add(a, b):\n    return a + b\n```\n\nIt adds the two numbers."


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    from selfcodealign.train.model import load_tokenizer

    return load_tokenizer(str(tiny_model))


def test_label_mask_token_by_token(tokenizer):
    row = tokenize_example(tokenizer, INSTRUCTION, RESPONSE)
    prompt_ids = tokenizer(format_prompt(INSTRUCTION))["input_ids"]
    response_ids = tokenizer(RESPONSE, add_special_tokens=False)["input_ids"]
    assert row["input_ids"] == prompt_ids + response_ids + [tokenizer.eos_token_id]
    assert len(row["labels"]) == len(row["input_ids"])
    for i, (token, label) in enumerate(zip(row["input_ids"], row["labels"], strict=True)):
        if i < len(prompt_ids):
            assert label == IGNORE_INDEX, f"prompt token {i} is trained on"
        else:
            assert label == token, f"response token {i} is masked"
    trained = [t for t in row["labels"] if t != IGNORE_INDEX]
    assert trained[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(trained) == RESPONSE + tokenizer.eos_token
    masked = row["input_ids"][: len(prompt_ids)]
    assert tokenizer.decode(masked) == format_prompt(INSTRUCTION)


def test_collated_batches_keep_the_eos_label(tokenizer):
    """EOS doubles as the pad token here: padding must be masked, the response's EOS not."""
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    assert tokenizer.pad_token_id == tokenizer.eos_token_id
    rows = [
        tokenize_example(tokenizer, INSTRUCTION, RESPONSE),
        tokenize_example(tokenizer, "Hi", "Yo"),
    ]
    for padding_free in (False, True):
        batch = DataCollatorForLanguageModeling(
            pad_token_id=tokenizer.pad_token_id, padding_free=padding_free
        )(rows)
        labels = batch["labels"].flatten().tolist()
        assert labels.count(tokenizer.eos_token_id) == 2
        trained = sum(1 for row in rows for t in row["labels"] if t != IGNORE_INDEX)
        assert sum(1 for t in labels if t != IGNORE_INDEX) == trained


def test_prompt_format():
    prompt = format_prompt("Do X.")
    assert prompt == f"{SYSTEM}\n\n### Instruction\nDo X.\n\n### Response\n"
    assert "\n" not in SYSTEM


def test_chat_template_round_trip(tokenizer, tmp_path):
    from transformers import AutoTokenizer

    attach_chat_template(tokenizer)
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    user = [{"role": "user", "content": INSTRUCTION}]
    prompt = loaded.apply_chat_template(user, add_generation_prompt=True, tokenize=False)
    assert prompt == format_prompt(INSTRUCTION)
    full = loaded.apply_chat_template(
        [*user, {"role": "assistant", "content": RESPONSE}], tokenize=False
    )
    assert full == format_prompt(INSTRUCTION) + RESPONSE + tokenizer.eos_token
    # Token ids too: what serving feeds the model is what training fed it.
    ids = loaded.apply_chat_template(user, add_generation_prompt=True, tokenize=True)
    ids = ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids
    row = tokenize_example(tokenizer, INSTRUCTION, RESPONSE)
    assert list(ids) == row["input_ids"][: len(ids)]
    assert row["labels"][len(ids) - 1] == IGNORE_INDEX and row["labels"][len(ids)] != IGNORE_INDEX
    system = [{"role": "system", "content": "Be brief."}, *user]
    assert loaded.apply_chat_template(system, add_generation_prompt=True, tokenize=False) == (
        format_prompt(INSTRUCTION, system="Be brief.")
    )


def test_chat_template_bos_only_where_the_tokenizer_adds_one():
    from jinja2 import Environment

    def render(template, **extra):
        messages = [{"role": "user", "content": "Hi"}]
        return (
            Environment()
            .from_string(template)
            .render(messages=messages, add_generation_prompt=True, eos_token="</s>", **extra)
        )

    assert render(chat_template(adds_bos=True), bos_token="<s>") == "<s>" + format_prompt("Hi")
    assert render(chat_template(adds_bos=False), bos_token="<s>") == format_prompt("Hi")


# --- effective batch, dropout, packing support -------------------------------------------------


@pytest.mark.parametrize(
    "effective, per_device, world, accumulation",
    [(64, 2, 4, 8), (64, 4, 4, 4), (64, 1, 1, 64), (64, 8, 8, 1), (64, 2, 8, 4), (4, 2, 1, 2)],
)
def test_effective_batch_arithmetic(effective, per_device, world, accumulation):
    plan = plan_batch(effective, per_device, world)
    assert plan.accumulation == accumulation
    assert plan.per_device * plan.accumulation * plan.world_size == effective
    assert f"x {accumulation} accumulation x {world} processes" in plan.describe()


@pytest.mark.parametrize("effective, per_device, world", [(64, 3, 1), (64, 4, 3), (64, 16, 8)])
def test_effective_batch_must_divide(effective, per_device, world):
    with pytest.raises(BatchError, match="per-device batches that fit"):
        plan_batch(effective, per_device, world)


def test_dropout_override_across_architectures():
    from selfcodealign.train.model import override_dropout, zero_dropout_modules
    from transformers import GPT2Config, GPT2LMHeadModel, Qwen2Config, Starcoder2Config

    gpt2 = GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=64)
    changed = override_dropout(gpt2, 0.0)
    assert {"resid_pdrop", "embd_pdrop", "attn_pdrop", "summary_first_dropout"} <= set(changed)
    assert gpt2.resid_pdrop == gpt2.embd_pdrop == gpt2.attn_pdrop == 0.0
    sc2 = Starcoder2Config(residual_dropout=0.1, embedding_dropout=0.1, attention_dropout=0.1)
    assert set(override_dropout(sc2, 0.0)) >= {
        "residual_dropout",
        "embedding_dropout",
        "attention_dropout",
    }
    assert sc2.residual_dropout == sc2.embedding_dropout == sc2.attention_dropout == 0.0
    qwen = Qwen2Config(attention_dropout=0.1)
    assert override_dropout(qwen, 0.0) == {"attention_dropout": 0.1}
    assert override_dropout(qwen, 0.0) == {}  # already 0: nothing to change
    # Modules built with a rate of their own are zeroed too.
    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=64))
    assert zero_dropout_modules(model, 0.0) > 0
    assert all(m.p == 0.0 for m in model.modules() if isinstance(m, torch.nn.Dropout))


def test_packing_support_falls_back_with_a_reason():
    from types import SimpleNamespace

    from selfcodealign.train.packing import padding_free_support

    odd = SimpleNamespace(config=SimpleNamespace(_attn_implementation="paged|my_kernel"))
    used, reason = padding_free_support(odd)
    assert not used and "my_kernel" in reason
    flash = SimpleNamespace(config=SimpleNamespace(_attn_implementation="flash_attention_2"))
    assert padding_free_support(flash)[0]


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_padding_free_batch_keeps_samples_apart(tiny_model, attention):
    """A packed row gives each sample the logits it gets alone: no cross-sample attention."""
    from selfcodealign.train.packing import padding_free_support
    from transformers import AutoModelForCausalLM
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    model = AutoModelForCausalLM.from_pretrained(tiny_model, attn_implementation=attention).eval()
    assert padding_free_support(model)[0]
    seqs = [[5, 6, 7, 8, 9], [10, 11, 12], [13, 14, 15, 16]]
    batch = DataCollatorForLanguageModeling(pad_token_id=1, padding_free=True)(
        [{"input_ids": s} for s in seqs]
    )
    assert "attention_mask" not in batch
    with torch.no_grad():
        # SFTTrainer runs every training forward with use_cache=False, as here.
        packed = model(
            input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False
        ).logits[0]
        alone = torch.cat([model(input_ids=torch.tensor([s])).logits[0] for s in seqs])
    torch.testing.assert_close(packed, alone, atol=1e-5, rtol=1e-4)


# --- training ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sft_jsonl(tmp_path_factory) -> Path:
    """40 rows of varied length, and one too long for max_length 384 (dropped and counted)."""
    import random

    rng = random.Random(0)
    path = tmp_path_factory.mktemp("sft") / "sft.jsonl"
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(40):
            words = " ".join(rng.choice(["list", "sum", "sort", "keys"]) for _ in range(30))
            instruction = f"Write `f{i}(x)` that adds {i}. " + words[: rng.randrange(5, 120)]
            body = "\n".join(f"    y{j} = x + {j}" for j in range(rng.randrange(1, 8)))
            response = f"```python\ndef f{i}(x):\n{body}\n    return x + {i}\n```"
            handle.write(json.dumps({"instruction": instruction, "response": response}) + "\n")
        handle.write(json.dumps({"instruction": "long " * 400, "response": "x"}) + "\n")
    return path


@pytest.fixture(scope="module")
def base_model(tiny_model, tmp_path_factory) -> Path:
    """The tiny model with a non-zero dropout in its config, for the override to remove."""
    path = tmp_path_factory.mktemp("base") / "model"
    shutil.copytree(tiny_model, path)
    config = json.loads((path / "config.json").read_text())
    config["attention_dropout"] = 0.1
    (path / "config.json").write_text(json.dumps(config))
    return path


def _state(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(path / "model.safetensors")


def _loss_rows(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _check_model_dir(output: Path, base: Path, device: str = "cpu") -> None:
    """Loads as a plain model, generates from the chat-templated prompt, weights moved."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(output).to(device)
    tokenizer = AutoTokenizer.from_pretrained(output)
    assert model.config.attention_dropout == 0.0
    assert model.config.use_cache is True
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": INSTRUCTION}], add_generation_prompt=True, tokenize=False
    )
    assert prompt == format_prompt(INSTRUCTION)
    ids = tokenizer(prompt, return_tensors="pt").to(device)
    generated = model.generate(**ids, max_new_tokens=8, do_sample=False)
    assert generated.shape[1] > ids["input_ids"].shape[1]
    trained, original = _state(output), _state(base)
    assert set(trained) == set(original), "not a plain model of the base architecture"
    assert any(not torch.equal(trained[k].float(), original[k].float()) for k in original)


def test_full_training(base_model, sft_jsonl, tmp_path, monkeypatch):
    from selfcodealign.train import finetune as module

    # Packing asked for where the backend is taken as unsupported: falls back, says why.
    monkeypatch.setattr(
        "selfcodealign.train.packing.padding_free_support", lambda model: (False, "test: no")
    )
    output = tmp_path / "model"
    summary = module.finetune(
        settings(packing=True), str(base_model), str(sft_jsonl), output, seed=1
    )
    assert summary["batch"] == {"effective": 4, "per_device": 2, "world_size": 1, "accumulation": 2}
    assert summary["global_step"] == 3
    assert summary["dropout_overridden"] == {"attention_dropout": 0.1}
    assert summary["packing"] == {"requested": True, "used": False, "reason": "test: no"}
    assert summary["data"]["dropped"] == {"longer_than_max_length": 1}
    assert summary["bf16"] is False
    assert 0 < summary["this_run"]["padding_share"] < 1
    assert summary["this_run"]["tokens_per_s"] > 0
    rows = _loss_rows(output / "loss.csv")
    assert [int(r["step"]) for r in rows] == [1, 2, 3]
    assert all(math.isfinite(float(r["loss"])) for r in rows)
    assert float(rows[0]["learning_rate"]) == 0.0  # warmup 0.05 of 3 steps: 1 step
    tokens = [int(r["tokens"]) for r in rows]
    assert tokens == sorted(tokens) and tokens[0] > 0
    assert json.loads((output / "training.json").read_text())["global_step"] == 3
    assert not (output / "checkpoints").exists(), "checkpoints are cleaned up"
    _check_model_dir(output, base_model)


def test_lora_training_merges_into_a_plain_model(base_model, sft_jsonl, tmp_path):
    from peft import PeftModel
    from selfcodealign.train.finetune import finetune
    from transformers import AutoModelForCausalLM

    output = tmp_path / "model"
    lora = {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": "all-linear"}
    summary = finetune(
        settings(method="lora", lora=lora, packing=True, learning_rate=1e-2),
        str(base_model),
        str(sft_jsonl),
        output,
    )
    # The tiny Qwen2 runs sdpa, which keeps packed samples apart: no padding at all.
    assert summary["packing"]["used"] is True
    assert summary["this_run"]["padding_share"] == 0.0
    assert all(math.isfinite(float(r["loss"])) for r in _loss_rows(output / "loss.csv"))
    assert (output / "adapter" / "adapter_config.json").exists()
    assert not (output / "adapter_config.json").exists()
    assert not any("lora" in key for key in _state(output))
    _check_model_dir(output, base_model)
    # The merged weights compute what base + adapter compute.
    merged = AutoModelForCausalLM.from_pretrained(output).eval()
    base = AutoModelForCausalLM.from_pretrained(base_model, attention_dropout=0.0)
    adapted = PeftModel.from_pretrained(base, output / "adapter").eval()
    ids = torch.tensor([[5, 17, 42, 99, 3]])
    with torch.no_grad():
        torch.testing.assert_close(merged(ids).logits, adapted(ids).logits, atol=1e-4, rtol=1e-4)


def test_lora_unmerged_is_a_peft_directory(base_model, sft_jsonl, tmp_path):
    from selfcodealign.train.finetune import finetune
    from transformers import AutoModelForCausalLM

    output = tmp_path / "model"
    finetune(
        settings(method="lora", merge_lora=False, max_steps=1), str(base_model), sft_jsonl, output
    )
    assert (output / "adapter_config.json").exists() and (output / "adapter").is_dir()
    assert not (output / "model.safetensors").exists()
    model = AutoModelForCausalLM.from_pretrained(output)  # base + adapter, through peft
    assert model.generate(torch.tensor([[5, 6]]), max_new_tokens=2).shape[1] == 4


# --- too few pairs: a marker, not a crash ---------------------------------------------------


@pytest.mark.parametrize(
    ("usable", "dropped"),
    [(0, 2), (2, 1)],
    ids=["no-usable-rows", "two-usable-rows"],
)
def test_too_few_pairs_leaves_a_marker_and_exits_0(
    usable, dropped, base_model, tmp_path, caplog, monkeypatch
):
    from selfcodealign.cli import main
    from selfcodealign.train import finetune as module

    data = tmp_path / "sft.jsonl"
    rows = [{"instruction": f"Write f{i}.", "response": f"def f{i}(): pass"} for i in range(usable)]
    rows += [{"instruction": "no response"}, {"instruction": "long " * 400, "response": "x"}]
    data.write_text("".join(json.dumps(row) + "\n" for row in rows[: usable + dropped]))
    # Nothing may train: a skipped run never reaches the trainer.
    monkeypatch.setattr(module, "_train", lambda *a, **k: pytest.fail("trained"))
    output = tmp_path / "model"
    (output / "checkpoints").mkdir(parents=True)  # left by an earlier run: not a weight file
    args = ["train", "finetune", "--settings", json.dumps(settings(min_pairs=3))]
    args += ["--model", str(base_model), "--data", str(data), "--output", str(output)]
    with caplog.at_level(logging.WARNING):
        assert main(args) == 0

    marker = json.loads((output / "skipped.json").read_text())
    assert marker == {
        "reason": "too_few_pairs",
        "pairs": usable,
        "min_pairs": 3,
        "dataset": str(data),
    }
    assert {p.name for p in output.iterdir()} == {"skipped.json", "checkpoints"}
    assert not list(output.rglob("*.safetensors")) and not (output / "training.json").exists()
    warnings = [r for r in caplog.records if r.name == "selfcodealign.train.skip"]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    assert f"{usable} usable training pairs, fewer than min_pairs 3" in warnings[0].getMessage()


def test_enough_pairs_train_and_clear_an_old_marker(base_model, sft_jsonl, tmp_path):
    from selfcodealign.train import skip
    from selfcodealign.train.finetune import finetune

    output = tmp_path / "model"
    skip.write_marker(output, skip.check(2, 3, sft_jsonl))
    # 40 rows and one too long for max_length 384: 40 usable, exactly min_pairs.
    summary = finetune(settings(min_pairs=40, max_steps=1), str(base_model), str(sft_jsonl), output)
    assert summary["data"]["used"] == 40 and summary["global_step"] == 1
    assert not (output / "skipped.json").exists() and (output / "model.safetensors").exists()
    assert skip.read_marker(output) is None


@pytest.mark.skipif(CUDA, reason="checks the CPU-only refusal")
def test_bf16_without_a_gpu_is_refused_and_auto_is_off(base_model, sft_jsonl, tmp_path):
    from selfcodealign.train.finetune import finetune
    from selfcodealign.train.model import use_bf16

    assert use_bf16("auto") is False and use_bf16(False) is False
    with pytest.raises(ValueError, match="bf16 is true but no GPU with bf16 support is visible"):
        finetune(settings(bf16=True), str(base_model), str(sft_jsonl), tmp_path / "model")
    assert not (tmp_path / "model" / "model.safetensors").exists()


def test_skip_check_and_marker(tmp_path):
    from selfcodealign.train import skip

    assert skip.check(3, 3, "d.jsonl") is None
    assert skip.check(0, 1, "d.jsonl") == {
        "reason": "too_few_pairs",
        "pairs": 0,
        "min_pairs": 1,
        "dataset": "d.jsonl",
    }
    assert skip.describe(skip.check(3, 10, "d.jsonl")) == "too few pairs (3 < 10)"
    assert skip.read_marker(tmp_path) is None
    (tmp_path / "training.json").write_text("{}")
    skip.write_marker(tmp_path, skip.check(1, 2, "d.jsonl"))
    assert skip.read_marker(tmp_path)["pairs"] == 1
    assert not (tmp_path / "training.json").exists(), "a stale summary claims a finished run"
    (tmp_path / "skipped.json").write_text(json.dumps({"reason": "too_few_pairs", "pairs": -1}))
    with pytest.raises(ValueError, match="skipped.json: expected a skipped-training marker"):
        skip.read_marker(tmp_path)


DRIVER = """\
import argparse, logging, sys
from selfcodealign.train import commands
logging.basicConfig(level=logging.INFO)
parser = argparse.ArgumentParser()
commands.add_commands(parser.add_subparsers(dest="step", required=True))
args = parser.parse_args(sys.argv[1:])
sys.exit(args.func(args))
"""


def _train_args(settings_: dict, model: Path, data: Path, output: Path) -> list[str]:
    """The real command line after ``python``; through cli.py once it has the train stage."""
    args = ["finetune", "--settings", json.dumps(settings_), "--model", str(model)]
    args += ["--data", str(data), "--output", str(output)]
    try:
        from selfcodealign.cli import build_parser

        build_parser().parse_args(["train", *args])
        return ["-m", "selfcodealign", "train", *args]
    except SystemExit:
        driver = output.parent / "driver.py"
        driver.write_text(DRIVER)
        return [str(driver), *args]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO / "workflow"), "OMP_NUM_THREADS": "1"}


def test_resume_after_kill(base_model, sft_jsonl, tmp_path):
    output = tmp_path / "model"
    steps = 24
    run = settings(max_steps=steps, save_steps=3, epochs=1)
    command = [sys.executable, *_train_args(run, base_model, sft_jsonl, output)]
    log = open(tmp_path / "first.log", "w")  # noqa: SIM115 (the child writes it)
    first = subprocess.Popen(command, env=_env(), stdout=log, stderr=subprocess.STDOUT)
    checkpoint = output / "checkpoints" / "checkpoint-3" / "trainer_state.json"
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait()
    log.close()
    assert checkpoint.exists(), (tmp_path / "first.log").read_text()[-3000:]
    assert not (output / "training.json").exists(), "finished before the kill: make it longer"

    second = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-3000:]
    summary = json.loads((output / "training.json").read_text())
    resumed = int(summary["resumed_from"].split("-")[1])
    assert 3 <= resumed < steps and resumed % 3 == 0
    assert summary["global_step"] == steps and summary["run"] == 2
    rows = _loss_rows(output / "loss.csv")
    assert [int(r["step"]) for r in rows] == list(range(1, steps + 1))
    assert [int(r["step"]) for r in rows if r["run"] == "2"][0] == resumed + 1
    tokens = [int(r["tokens"]) for r in rows]
    assert tokens == sorted(tokens) and len(set(tokens)) == steps
    assert f"resuming from {output / 'checkpoints' / summary['resumed_from']}" in second.stderr


def test_two_processes_share_the_effective_batch(base_model, sft_jsonl, tmp_path):
    """Two CPU processes through ``accelerate launch`` (gloo): half the accumulation, one log,
    one model."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    output = tmp_path / "model"
    run = settings(max_steps=2, per_device_batch_size=1)
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu"]
    command += ["--num_processes", "2", "--num_machines", "1", "--main_process_port", str(port)]
    command += ["--mixed_precision", "no", "--dynamo_backend", "no"]
    command += _train_args(run, base_model, sft_jsonl, output)
    env = {**_env(), "ACCELERATE_USE_CPU": "1"}  # the same launcher, on CPU (gloo)
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((output / "training.json").read_text())
    assert summary["batch"] == {"effective": 4, "per_device": 1, "world_size": 2, "accumulation": 2}
    assert "effective batch 4 = 1 per device x 2 accumulation x 2 processes" in done.stderr
    rows = _loss_rows(output / "loss.csv")
    assert [int(r["step"]) for r in rows] == [1, 2]  # written once, by the main process
    _check_model_dir(output, base_model)


def test_torn_checkpoint_is_not_resumed(tmp_path):
    from selfcodealign.train.checkpoints import latest_checkpoint, remove_torn

    for step, complete in ((2, True), (4, True), (6, False)):
        path = tmp_path / f"checkpoint-{step}"
        path.mkdir()
        if complete:
            (path / "trainer_state.json").write_text("{}")
    assert latest_checkpoint(tmp_path).name == "checkpoint-4"
    assert [p.name for p in remove_torn(tmp_path)] == ["checkpoint-6"]


# --- resuming only a training's own checkpoints -----------------------------------------------


def test_a_model_rebuilt_in_place_is_another_model(sft_jsonl, tmp_path):
    """A local directory (a model the workflow builds or imports) keeps its path when rebuilt;
    its contents tell the two apart."""
    from selfcodealign.train.fingerprint import differing, fingerprint

    model = tmp_path / "base-model"
    model.mkdir()
    (model / "config.json").write_text('{"hidden_size": 64}')
    (model / "model.safetensors").write_bytes(b"x" * 100)
    before = fingerprint(settings(), str(model), sft_jsonl, seed=1)
    assert fingerprint(settings(), str(model), sft_jsonl, seed=1) == before
    (model / "config.json").write_text('{"hidden_size": 96}')
    assert differing(before, fingerprint(settings(), str(model), sft_jsonl, seed=1)) == ["model"]
    (model / "config.json").write_text('{"hidden_size": 64}')
    (model / "model.safetensors").write_bytes(b"x" * 101)
    assert differing(before, fingerprint(settings(), str(model), sft_jsonl, seed=1)) == ["model"]


def test_fingerprint_ignores_runtime_only_settings(sft_jsonl):
    from selfcodealign.train.fingerprint import differing, fingerprint

    base = fingerprint(settings(), "org/model", sft_jsonl, seed=1)
    assert set(base) == {"data", "recipe", "model", "seed"}
    # a Hub id: its revision says which files it is
    assert base["model"] == {"name": "org/model", "revision": None, "files": None}
    runtime = {
        "gpus": 4,
        "per_device_batch_size": 1,
        "save_steps": 7,
        "save_total_limit": 5,
        "cleanup_checkpoints": False,
        "gradient_checkpointing": True,
        "accelerate_config": "zero3",
        "min_pairs": 5,  # whether a run happens, not what it computes
    }
    for key, value in runtime.items():
        assert key not in base["recipe"]
        other = fingerprint(settings(**{key: value}), "org/model", sft_jsonl, seed=1)
        assert other == base, key
    # The seed counts once, whether it comes from the settings or the command line.
    assert fingerprint(settings(seed=1), "org/model", sft_jsonl, seed=9) == base
    assert differing(base, base) == []


def test_fingerprint_tells_what_differs(sft_jsonl, tmp_path):
    from selfcodealign.train import fingerprint as fp

    base = fp.fingerprint(settings(), "org/model", sft_jsonl, seed=1)
    edited = tmp_path / "sft.jsonl"
    edited.write_bytes(sft_jsonl.read_bytes().replace(b"adds 0.", b"adds 00.", 1))
    changed = {
        "data": fp.fingerprint(settings(), "org/model", edited, seed=1),
        "recipe": fp.fingerprint(settings(learning_rate=2e-5), "org/model", sft_jsonl, seed=1),
        "model": fp.fingerprint(settings(), "org/other", sft_jsonl, seed=1),
        "seed": fp.fingerprint(settings(), "org/model", sft_jsonl, seed=2),
    }
    for part, other in changed.items():
        assert fp.differing(base, other) == [part]
    assert fp.differing(base, fp.fingerprint(settings(epochs=2), "org/model", sft_jsonl, 1)) == [
        "recipe"
    ]
    revised = fp.fingerprint(settings(), "org/model", sft_jsonl, seed=1, revision="abc123")
    assert fp.differing(base, revised) == ["model"]
    fp.write(tmp_path, base)
    assert "model (org/model -> org/model@abc123)" in fp.mismatch(tmp_path, revised)
    (tmp_path / fp.FINGERPRINT).unlink()
    # Stored and compared as JSON: what was written reads back equal.
    assert fp.mismatch(tmp_path, base).endswith("have no fingerprint.json, so their run is unknown")
    fp.write(tmp_path, base)
    assert fp.read(tmp_path) == base and fp.mismatch(tmp_path, base) is None
    reason = fp.mismatch(tmp_path, changed["data"])
    assert reason.startswith(f"checkpoints in {tmp_path} were made with other data (sha256 ")
    assert base["data"]["sha256"][:12] in reason
    assert "learning_rate 0.001 -> 2e-05" in fp.mismatch(tmp_path, changed["recipe"])
    (tmp_path / fp.FINGERPRINT).write_text("{torn")
    assert "an unreadable fingerprint.json" in fp.mismatch(tmp_path, base)


class _StopAt(TrainerCallback):
    """Ends training after ``step`` as if the job were cut off there."""

    def __init__(self, step: int):
        self.stop = step

    def on_step_end(self, args, state, control, **kwargs):
        control.should_training_stop = state.global_step >= self.stop


class _AtStart(TrainerCallback):
    """Records the step training starts from and the checkpoints present then."""

    def __init__(self, work: Path):
        self.work = work
        self.step: int | None = None
        self.checkpoints: list[str] = []

    def on_train_begin(self, args, state, control, **kwargs):
        self.step = state.global_step
        self.checkpoints = sorted(p.name for p in self.work.glob("checkpoint-*"))


def _cut_short_run(model: Path, data: Path, tmp_path: Path) -> tuple[dict, Path, Path]:
    """4 steps asked for, cut off after checkpoint-2; returns (settings, work dir, output)."""
    from selfcodealign.train.finetune import finetune

    run = settings(max_steps=4, save_steps=2, cleanup_checkpoints=False)
    work, output = tmp_path / "checkpoints", tmp_path / "model"
    finetune(run, str(model), str(data), output, work, seed=1, callbacks=[_StopAt(2)])
    assert (work / "checkpoint-2" / "trainer_state.json").exists()
    assert (work / "fingerprint.json").exists()
    shutil.rmtree(output)  # as Snakemake does before it reruns a job
    return run, work, output


def test_rerun_resumes_its_own_checkpoints(base_model, sft_jsonl, tmp_path, caplog):
    from selfcodealign.train.finetune import finetune

    run, work, output = _cut_short_run(base_model, sft_jsonl, tmp_path)
    start = _AtStart(work)
    # Runtime-only changes (per-device batch, cleanup) keep the checkpoints valid.
    rerun = {**run, "per_device_batch_size": 1, "cleanup_checkpoints": True}
    with caplog.at_level(logging.INFO, logger="selfcodealign.train"):
        summary = finetune(
            rerun, str(base_model), str(sft_jsonl), output, work, seed=1, callbacks=[start]
        )
    assert start.step == 2
    assert summary["resumed_from"] == "checkpoint-2" and summary["run"] == 2
    assert summary["global_step"] == 4
    assert [r["run"] for r in _loss_rows(output / "loss.csv")] == ["1", "1", "2", "2"]
    assert f"resuming from {work / 'checkpoint-2'}" in caplog.text
    assert "starting over" not in caplog.text
    assert not work.exists(), "checkpoints and fingerprint are cleaned up"


def test_other_data_starts_over(base_model, sft_jsonl, tmp_path, caplog):
    from selfcodealign.resumable import file_digest
    from selfcodealign.train import fingerprint as fp
    from selfcodealign.train.finetune import finetune

    data = tmp_path / "sft.jsonl"
    shutil.copy(sft_jsonl, data)
    run, work, output = _cut_short_run(base_model, data, tmp_path)
    old_sha = fp.read(work)["data"]["sha256"]
    rows = data.read_text().splitlines(keepends=True)
    rows[5] = json.dumps({**json.loads(rows[5]), "response": "changed"}) + "\n"
    data.write_text("".join(rows))
    start = _AtStart(work)
    with caplog.at_level(logging.WARNING, logger="selfcodealign.train"):
        summary = finetune(run, str(base_model), str(data), output, work, seed=1, callbacks=[start])
    warnings = [r for r in caplog.records if "starting over" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    message = warnings[0].getMessage()
    assert message.startswith(f"checkpoints in {work} were made with other data (sha256 ")
    assert old_sha[:12] in message and message.endswith(" - starting over")
    assert message.count("(") == 1, "only the data differs"
    assert start.step == 0 and start.checkpoints == [], "the old checkpoints are gone"
    assert summary["resumed_from"] is None and summary["run"] == 1
    assert summary["global_step"] == 4
    assert [int(r["step"]) for r in _loss_rows(output / "loss.csv")] == [1, 2, 3, 4]
    assert {r["run"] for r in _loss_rows(output / "loss.csv")} == {"1"}
    assert fp.read(work)["data"]["sha256"] == file_digest(data, "sha256")
    assert sorted(p.name for p in work.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]


def test_launch_command_and_cpu_stays_in_process(monkeypatch):
    from selfcodealign.train import launch

    command = launch.launch_command(4, "zero3", ["train", "finetune", "--model", "m"])
    assert command[1:3] == ["-m", "accelerate.commands.launch"]
    assert command[command.index("--num_processes") + 1] == "4"
    assert command[command.index("--config_file") + 1].endswith(
        "selfcodealign/accelerate/zero3.yaml"
    )
    assert command[-5:] == ["selfcodealign", "train", "finetune", "--model", "m"]
    with pytest.raises(ValueError, match="ddp"):
        launch.accelerate_config("nope")
    for name in ("ddp", "fsdp", "zero3"):
        assert launch.accelerate_config(name).exists()
    # On a machine without GPUs, --launch trains in this process.
    monkeypatch.setattr(launch, "visible_gpus", lambda: 0)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    monkeypatch.setattr(os, "execv", lambda *a: pytest.fail("relaunched without GPUs"))
    launch.relaunch_if_needed({"gpus": 4, "accelerate_config": "ddp"}, ["train"])


# --- GPU ----------------------------------------------------------------------------------------


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize("method", ["full", "lora"])
def test_gpu_training_bf16(base_model, sft_jsonl, tmp_path, method):
    from selfcodealign.train.finetune import finetune

    output = tmp_path / "model"
    summary = finetune(
        settings(method=method, packing=True, gradient_checkpointing=True, max_steps=4),
        str(base_model),
        str(sft_jsonl),
        output,
    )
    assert summary["bf16"] is True
    assert all(math.isfinite(float(r["loss"])) for r in _loss_rows(output / "loss.csv"))
    _check_model_dir(output, base_model, device="cuda")
