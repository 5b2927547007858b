"""``python -m selfcodealign stage-model``: a Hub model downloaded once, on the login node.

Compute nodes often have no internet. The workflow downloads each Hub model (``models.<name>.id``)
into ``results/base-models/<name>`` before any job needs it, and every job reads that directory.
The revision asked for (a branch, tag or commit; default ``main``) is resolved to its commit
first and the files are downloaded at that commit, so all jobs of a run read the same weights;
``staged.json`` records the commit. The download goes to a temporary directory beside the
output and is renamed into place when complete: a killed download never looks finished.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from selfcodealign.jsonl import write_json

log = logging.getLogger(__name__)

RECORD = "staged.json"


def resolve_commit(model_id: str, revision: str | None) -> str:
    """The commit a revision of a Hub model points at now."""
    from huggingface_hub import HfApi

    return HfApi().model_info(model_id, revision=revision or "main").sha


def stage(model_id: str, revision: str | None, output: Path) -> dict[str, Any]:
    """Download ``model_id`` at ``revision`` into ``output``; returns what staged.json holds."""
    from huggingface_hub import snapshot_download

    commit = resolve_commit(model_id, revision)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        snapshot_download(model_id, revision=commit, local_dir=partial)
        # The hub's own bookkeeping of the download, not part of the model.
        shutil.rmtree(partial / ".cache", ignore_errors=True)
        record = {"id": model_id, "revision": revision or "main", "commit": commit}
        write_json(partial / RECORD, record)
        if output.exists():
            shutil.rmtree(output)
        os.replace(partial, output)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return record


def _run(args: argparse.Namespace) -> int:
    record = stage(args.id, args.revision, Path(args.output))
    log.info("staged %s at %s (commit %s) in %s", args.id, record["revision"], record["commit"],
             args.output)  # fmt: skip
    return 0


def add_command(stages: argparse._SubParsersAction) -> None:
    command = stages.add_parser(
        "stage-model", help="download a Hub model at a pinned revision into a local directory"
    )
    command.add_argument("--id", required=True, help="the Hub model id, e.g. bigcode/starcoder2-3b")
    command.add_argument("--revision", default=None, help="branch, tag or commit (default main)")
    command.add_argument("--output", required=True, help="model directory to write")
    command.set_defaults(func=_run, section=None)


def token_variable(name: str = "HF_TOKEN") -> str:
    """The Hub token's variable, declared by the workflow (Snakemake's ``envvars:`` passes it to
    jobs) yet optional: unset, it is set empty, which huggingface_hub reads as no token (a
    token saved by ``hf auth login`` still applies)."""
    os.environ.setdefault(name, "")
    return name
