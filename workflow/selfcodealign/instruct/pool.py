"""The few-shot pool: 21 examples, each with Code, Property, Instruction, Response and Tests."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import yaml

from selfcodealign.package_data import data_file

POOL_PATH = data_file("prompts", "fewshot_pool.yaml")
CATEGORIES = ("function implementation", "class implementation", "program implementation")
DIFFICULTIES = ("easy", "medium", "hard")


@dataclass(frozen=True)
class Example:
    id: str
    code: str
    category: str
    language: str
    difficulty: str
    concepts: tuple[str, ...]
    instruction: str
    response: str
    tests: str


@cache
def load_pool(path: str = str(POOL_PATH)) -> tuple[Example, ...]:
    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    examples = []
    for item in data["examples"]:
        prop = item["property"]
        if prop["category"] not in CATEGORIES or prop["difficulty"] not in DIFFICULTIES:
            raise ValueError(f"{path}: example {item['id']} has a bad category or difficulty")
        examples.append(
            Example(
                id=item["id"],
                code=item["code"].strip("\n"),
                category=prop["category"],
                language=prop["language"],
                difficulty=prop["difficulty"],
                concepts=tuple(prop["concepts"]),
                instruction=item["instruction"].strip(),
                response=item["response"].strip(),
                tests=item["tests"].strip("\n"),
            )
        )
    return tuple(examples)
