"""Load the base model for training: dropout forced off, the chosen attention and precision.

Dropout is overridden in the config before the weights load, so every layer is built with it
(a StarCoder2 reproduction lost 7 HumanEval points to the default residual dropout).
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

log = logging.getLogger(__name__)

# Config fields that hold a dropout probability across architectures: attention_dropout,
# hidden_dropout, resid_pdrop, embd_pdrop, residual_dropout, hidden_dropout_prob, layerdrop...
_DROPOUT_NAME = re.compile(r"dropout|pdrop|layerdrop", re.IGNORECASE)


def _configs(config) -> list:
    """The config and its nested sub-configs (text, vision, decoder...), each once."""
    from transformers import PretrainedConfig

    found, stack = [], [config]
    while stack:
        node = stack.pop()
        if any(node is seen for seen in found):
            continue
        found.append(node)
        stack.extend(v for v in vars(node).values() if isinstance(v, PretrainedConfig))
    return found


def override_dropout(config, value: float) -> dict[str, Any]:
    """Set every dropout probability in ``config`` to ``value``; returns what was changed."""
    changed = {}
    for node in _configs(config):
        for name, old in list(vars(node).items()):
            numeric = isinstance(old, int | float) and not isinstance(old, bool)
            if numeric and _DROPOUT_NAME.search(name) and old != value:
                setattr(node, name, value)
                changed[name] = old
    return changed


def zero_dropout_modules(model, value: float) -> int:
    """Also set ``nn.Dropout`` modules, for models that hard-code a rate outside the config."""
    import torch

    count = 0
    for module in model.modules():
        if isinstance(module, torch.nn.modules.dropout._DropoutNd) and module.p != value:
            module.p = value
            count += 1
    return count


def use_bf16(setting: bool | str) -> bool:
    """bf16 mixed precision: ``auto`` means on a GPU that supports it, never on CPU."""
    import torch

    gpu_bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if setting == "auto":
        return gpu_bf16
    if setting and not gpu_bf16:
        raise ValueError("finetune.bf16 is true but no GPU with bf16 support is visible")
    return bool(setting)


def resolve_model(path: str, revision: str | None) -> str:
    """The directory to train from: a local one as it is; a Hub id at a pinned revision is
    fetched once into the Hub cache, so every later load (tokenizer, config, weights, export)
    reads the same files."""
    if revision is None:
        return path
    if os.path.isdir(path):
        log.warning("%s is a local directory: its revision %s is not applied", path, revision)
        return path
    from huggingface_hub import snapshot_download

    return snapshot_download(path, revision=revision)


def load_tokenizer(path: str):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.eos_token_id is None:
        raise ValueError(f"{path}: the tokenizer has no EOS token, which ends every response")
    if tokenizer.pad_token is None:
        # Padding is masked out of both attention and loss, so EOS can stand in for it.
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def training_config(path: str, settings: dict[str, Any]):
    """The base model's config with dropout overridden; returns (config, what changed)."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(path)
    changed = {}
    if settings["dropout"] is not None:
        changed = override_dropout(config, settings["dropout"])
    return config, changed


def load_model(path: str, settings: dict[str, Any]):
    """The base model built with dropout overridden; returns (model, dropout changes)."""
    import torch
    from transformers import AutoModelForCausalLM

    config, changed = training_config(path, settings)
    if changed:
        log.info("dropout set to %s (was %s)", settings["dropout"], changed)
    kwargs = {"config": config, "dtype": getattr(torch, settings["weights_dtype"])}
    if settings["attention"]:
        kwargs["attn_implementation"] = settings["attention"]
    model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    if settings["dropout"] is not None:
        modules = zero_dropout_modules(model, settings["dropout"])
        if modules:
            log.info("dropout set to %s in %d modules", settings["dropout"], modules)
    return model, changed
