"""Build the demo's own model: a tiny causal LM trained for minutes on CPU, with no download.

Random weights write noise that no later stage can use. This model's tokenizer (byte-level
BPE, trained with ``tokenizers``) and weights (a small Qwen2, trained here) learn the few-shot
pool in exactly the prompt formats of Self-OSS-Instruct, so its sampled completions have the
shape the later stages parse. It is a stand-in for a real base model, for demos and tests.
"""

from __future__ import annotations

import logging
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from selfcodealign.instruct.pool import Example, load_pool
from selfcodealign.instruct.prompts import EXAMPLE_HEADER, build_prompt, response_section

log = logging.getLogger(__name__)
EOS = "<|endoftext|>"


def _answer(mode: str, example: Example) -> str:
    if mode == "s2c":
        return ", ".join(example.concepts)
    if mode in ("c2i", "s2i"):
        return example.instruction
    return response_section(example.response, example.tests).split("\n", 1)[1]


def training_documents(
    pool: tuple[Example, ...], shots: dict[str, int], rng: random.Random
) -> Iterator[str]:
    """Endless few-shot prompts built from the pool, each completed with its true answer."""
    modes = list(shots)
    while True:
        mode = rng.choice(modes)
        target = rng.choice(pool)
        others = [e for e in pool if e.id != target.id]
        row = {
            "seed": target.code,
            "concepts": list(target.concepts),
            "instruction": target.instruction,
        }
        prompt = build_prompt(
            mode, row, others, min(shots[mode], len(others)), rng.randrange(1 << 30)
        )
        # A C->I or S->I prompt samples its property at random, as generation does: the model
        # learns to answer a seed whatever property it is shown, the only way a model this
        # small gives usable answers to the prompts generation will build.
        yield f"{prompt.text}{_answer(mode, target)}\n\n{EXAMPLE_HEADER}"


def train_tokenizer(texts: list[str], vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token=EOS, pad_token=EOS)


def build_demo_model(
    output: str | Path, settings: dict[str, Any], shots: dict[str, int], seed: int
) -> dict:
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    rng = random.Random(seed)
    pool = load_pool()
    documents = training_documents(pool, shots, rng)
    corpus = [next(documents) for _ in range(200)]
    trained = train_tokenizer(corpus, settings["vocab_size"])
    hidden = settings["hidden_size"]
    config = Qwen2Config(
        vocab_size=len(trained),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=settings["layers"],
        num_attention_heads=hidden // 32,  # head size 32: the smallest vLLM's CPU kernels take
        num_key_value_heads=hidden // 32,
        max_position_embeddings=8192,
        eos_token_id=trained.eos_token_id,
        bos_token_id=trained.eos_token_id,
        pad_token_id=trained.eos_token_id,
        tie_word_embeddings=True,
    )
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    config.save_pretrained(output)
    trained.save_pretrained(output)
    # Train with the tokenizer exactly as AutoTokenizer loads it back (as vLLM and the
    # transformers backend will): for a qwen2 config it may pick its own tokenizer class.
    tokenizer = AutoTokenizer.from_pretrained(output)
    model = Qwen2ForCausalLM(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings["learning_rate"])
    steps = settings["steps"]
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=settings["learning_rate"], total_steps=steps, pct_start=0.1
    )
    model.train()
    started = time.monotonic()
    losses = []
    for step in range(1, steps + 1):
        ids = tokenizer(next(documents), return_tensors="pt").input_ids[:, :4096]
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        losses.append(loss.item())
        if step % 25 == 0 or step == steps:
            recent = sum(losses[-25:]) / len(losses[-25:])
            print(
                f"step {step}/{steps} loss {recent:.3f} ({time.monotonic() - started:.0f} s)",
                file=sys.stderr,
                flush=True,
            )
    model.eval()
    model.save_pretrained(output)
    return {
        "parameters": sum(p.numel() for p in model.parameters()),
        "steps": steps,
        "final_loss": sum(losses[-25:]) / len(losses[-25:]),
        "seconds": round(time.monotonic() - started, 1),
    }
