"""The final model directory: plain weights that transformers and vLLM load directly.

Runs on the main process after training, on CPU, from what the Trainer saved (which works
the same under DDP, FSDP and ZeRO-3, whose shards the Trainer gathers when it saves). The
weights go back to the base model's dtype (a bf16 base stays bf16 however it was trained), a
LoRA adapter is merged into the base unless asked not to (and is kept in ``adapter/``), and
the tokenizer carries the chat template of the training prompt.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

log = logging.getLogger(__name__)
ADAPTER_DIR = "adapter"


def base_dtype(base: str):
    import torch
    from transformers import AutoConfig

    dtype = getattr(AutoConfig.from_pretrained(base), "dtype", None)
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    return dtype or torch.float32


def _save_plain(model, tokenizer, output: Path) -> None:
    # Training turns the KV cache off; generation wants it.
    model.config.use_cache = True
    model.save_pretrained(output)
    tokenizer.save_pretrained(output)


def export_full(trained: Path, base: str, tokenizer, output: Path) -> None:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(trained, dtype=base_dtype(base))
    _save_plain(model, tokenizer, output)


def export_lora(adapter: Path, base: str, config, tokenizer, output: Path, merge: bool) -> None:
    """Merge ``adapter`` into ``base`` (loaded with the training config: dropout off)."""
    shutil.copytree(adapter, output / ADAPTER_DIR, dirs_exist_ok=True)
    tokenizer.save_pretrained(output / ADAPTER_DIR)
    if not merge:
        # A PEFT directory: transformers (with peft installed) loads base + adapter from it.
        shutil.copytree(adapter, output, dirs_exist_ok=True)
        tokenizer.save_pretrained(output)
        return
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base, config=config, dtype=base_dtype(base))
    merged = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    _save_plain(merged, tokenizer, output)
