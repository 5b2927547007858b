"""The instruction-tuning prompt, its label mask, and the matching chat template.

Training and inference must see the same bytes: the template is written once here, as a
Python format for training and as Jinja for the saved tokenizer (evaluation and serving).
"""

from __future__ import annotations

SYSTEM = (
    "You are an exceptionally intelligent coding assistant that consistently delivers "
    "accurate and reliable responses to user instructions."
)
INSTRUCTION_HEADER = "\n\n### Instruction\n"
RESPONSE_HEADER = "\n\n### Response\n"
IGNORE_INDEX = -100

# `bos` is filled in per tokenizer: only where the tokenizer itself adds a BOS token, so that a
# prompt rendered by the template and tokenized without special tokens (vLLM's chat path) gets
# the same ids as a raw prompt tokenized with them (the completion path, and training).
_CHAT_TEMPLATE = (
    "{%- if messages and messages[0]['role'] == 'system' -%}"
    "{%- set system = messages[0]['content'] -%}{%- set turns = messages[1:] -%}"
    "{%- else -%}{%- set system = DEFAULT_SYSTEM -%}{%- set turns = messages -%}{%- endif -%}"
    "BOS{{- system -}}"
    "{%- for message in turns -%}"
    "{%- if message['role'] == 'user' -%}"
    "{{- INSTRUCTION_HEADER + message['content'] -}}"
    "{%- elif message['role'] == 'assistant' -%}"
    "{{- RESPONSE_HEADER + message['content'] + eos_token -}}"
    "{%- else -%}{{- raise_exception('only system, user and assistant roles') -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- RESPONSE_HEADER -}}{%- endif -%}"
)


def _jinja_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def chat_template(adds_bos: bool) -> str:
    """The Jinja chat template equal to ``format_prompt`` (+ response + EOS)."""
    template = _CHAT_TEMPLATE.replace("BOS", "{{- bos_token -}}" if adds_bos else "")
    for name, value in (
        ("DEFAULT_SYSTEM", SYSTEM),
        ("INSTRUCTION_HEADER", INSTRUCTION_HEADER),
        ("RESPONSE_HEADER", RESPONSE_HEADER),
    ):
        template = template.replace(name, _jinja_string(value))
    return template


def format_prompt(instruction: str, system: str = SYSTEM) -> str:
    """Everything the model reads before it writes the response."""
    return f"{system}{INSTRUCTION_HEADER}{instruction}{RESPONSE_HEADER}"


def tokenizer_adds_bos(tokenizer) -> bool:
    bos = tokenizer.bos_token_id
    ids = tokenizer("x")["input_ids"]
    return bos is not None and bool(ids) and ids[0] == bos


def tokenize_example(tokenizer, instruction: str, response: str) -> dict[str, list[int]]:
    """Token ids of prompt + response + EOS, and labels that train on the response and EOS only.

    Prompt and response are tokenized apart, as at inference, where generation starts on a fresh
    token after the prompt: no token straddles the boundary and the mask is exact.
    """
    prompt_ids = tokenizer(format_prompt(instruction))["input_ids"]
    response_ids = tokenizer(response, add_special_tokens=False)["input_ids"]
    response_ids = [*response_ids, tokenizer.eos_token_id]
    return {
        "input_ids": prompt_ids + response_ids,
        "labels": [IGNORE_INDEX] * len(prompt_ids) + response_ids,
    }


def attach_chat_template(tokenizer) -> None:
    tokenizer.chat_template = chat_template(tokenizer_adds_bos(tokenizer))
