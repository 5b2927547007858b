"""A digest of each stage's own code and data files, so that editing them reruns that stage.

Snakemake reruns a job when its params change; each rule carries the digest of the files that
decide its results. Shared plumbing (the command line, JSONL helpers, the schema) is left out:
an edit there would otherwise rerun everything, and the settings it validates are in params
already.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

WORKFLOW_DIR = Path(__file__).resolve().parent.parent

# Globs relative to workflow/: the package's modules and the data files they read.
STAGE_FILES = {
    "seeds": [
        "selfcodealign/seeds/*.py",
        "selfcodealign/minhash.py",
        "selfcodealign/funnel.py",
    ],
    "judge": [
        "selfcodealign/seeds/judge.py",
        "selfcodealign/prompts/docstring_judge.yaml",
        "selfcodealign/generation/*.py",
    ],
    "demo_model": [
        "selfcodealign/demo_model.py",
        "selfcodealign/instruct/pool.py",
        "selfcodealign/instruct/prompts.py",
        "selfcodealign/prompts/fewshot_pool.yaml",
    ],
    "gguf": ["selfcodealign/gguf_import.py"],
    "stage": ["selfcodealign/stage_model.py"],
    "generation": [
        "selfcodealign/instruct/*.py",
        "selfcodealign/generation/*.py",
        "selfcodealign/prompts/fewshot_pool.yaml",
    ],
    "execution": [
        "selfcodealign/sandbox/*.py",
        "selfcodealign/select/execute.py",
        "selfcodealign/select/programs.py",
    ],
    "selection": [
        "selfcodealign/select/*.py",
        "selfcodealign/minhash.py",
    ],
    "training": ["selfcodealign/train/*.py", "selfcodealign/accelerate/*.yaml"],
    "evaluation": ["selfcodealign/evaluate/*.py", "selfcodealign/generation/*.py"],
    "report": ["selfcodealign/report/*.py", "selfcodealign/report/*.yaml"],
}


@cache
def stage_digest(stage: str, root: Path = WORKFLOW_DIR) -> str:
    """sha1 over the stage's files: their paths relative to ``root`` and their bytes."""
    digest = hashlib.sha1()
    files = sorted({path for pattern in STAGE_FILES[stage] for path in root.glob(pattern)})
    if not files:
        raise FileNotFoundError(f"no files for stage {stage!r} under {root}")
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()
