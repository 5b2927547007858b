"""A tiny random-weight causal LM with a tokenizer trained here: no download needed."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

# Fixed text shipped with the repository: no edit of the code changes the models built here.
HUMANEVALPLUS_MINI = (
    Path(__file__).resolve().parents[1]
    / "resources" / "humanevalplus" / "HumanEvalPlus-Mini-v0.1.10.jsonl.gz"
)  # fmt: skip


def fixed_texts() -> list[str]:
    """The shipped HumanEval+ prompts and canonical solutions, to train tokenizers on."""
    with gzip.open(HUMANEVALPLUS_MINI, "rt", encoding="utf-8") as handle:
        tasks = [json.loads(line) for line in handle if line.strip()]
    return [task["prompt"] + task["canonical_solution"] for task in tasks]


def build_tiny_model(directory: Path, texts: list[str]) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512,
        special_tokens=["<unk>", "<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, eos_token="<|endoftext|>", unk_token="<unk>"
    )
    fast.save_pretrained(directory)
    config = Qwen2Config(
        vocab_size=fast.vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=4096,
        eos_token_id=fast.eos_token_id,
        bos_token_id=fast.eos_token_id,
    )
    import torch

    torch.manual_seed(0)
    Qwen2ForCausalLM(config).save_pretrained(directory)
    return directory
