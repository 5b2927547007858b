"""Where candidate Python files come from, split into shards for parallel extraction.

Three kinds: a Hugging Face dataset (the paper's ``bigcode/the-stack-dedup``), a local
directory of ``.py`` files, and the running interpreter's standard library. ``plan_shards``
writes one small JSON spec per shard; ``iter_shard_files`` streams the files of one spec, so no
step ever holds the corpus in memory. A Hub dataset is staged by default: the plan (on the
submitting node) downloads its parquet files at the commit its revision resolves to, and the
extraction jobs read them locally, as compute nodes often have no internet; unstaged, each
extraction job streams its share from the Hub with ``datasets``.
"""

from __future__ import annotations

import math
import os
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class SourceFile:
    """One file's raw bytes (``None`` when unreadable) and where it came from."""

    source: str
    path: str
    data: bytes | None
    error: str | None = None


def stdlib_dir() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def _walk_python_files(root: Path, exclude_dirs: set[str]) -> list[str]:
    files = []
    for directory, subdirs, names in os.walk(root):
        # Prune in place so os.walk never enters excluded directories.
        subdirs[:] = sorted(d for d in subdirs if d not in exclude_dirs)
        files.extend(os.path.join(directory, n) for n in sorted(names) if n.endswith(".py"))
    return files


def stage_hub_files(source: dict[str, Any], directory: Path) -> tuple[list[str], str]:
    """Download the dataset's parquet files (under ``data_dir``) into ``directory``; returns
    their local paths and the commit they were taken at."""
    from huggingface_hub import HfApi, snapshot_download

    api = HfApi()
    dataset = source["dataset"]
    commit = api.dataset_info(dataset, revision=source.get("revision") or "main").sha
    prefix = source["data_dir"].strip("/") + "/" if source.get("data_dir") else ""
    names = sorted(
        name
        for name in api.list_repo_files(dataset, repo_type="dataset", revision=commit)
        if name.startswith(prefix) and name.endswith(".parquet")
    )
    if not names:
        raise ValueError(f"{dataset}: no parquet files under {prefix or 'the root'!r}")
    snapshot_download(
        dataset, repo_type="dataset", revision=commit, allow_patterns=names, local_dir=directory
    )
    return [str(Path(directory, name).resolve()) for name in names], commit


def plan_shards(
    source: dict[str, Any], shards: int, stage_dir: Path | None = None
) -> list[dict[str, Any]]:
    """Split a source into ``shards`` self-contained specs (one per extraction job); a staged
    Hub dataset is downloaded into ``stage_dir`` first."""
    kind = source["kind"]
    if kind in ("local", "stdlib"):
        if kind == "local":
            if not source.get("path"):
                raise ValueError("seeds.source.path must name a directory when kind is local")
            root = Path(source["path"]).expanduser().resolve()
        else:
            root = stdlib_dir()
        if not root.is_dir():
            raise ValueError(f"seeds.source.path: {root} is not a directory")
        files = _walk_python_files(root, set(source.get("exclude_dirs", [])))
        if source.get("max_rows"):
            files = files[: source["max_rows"]]
        # Round-robin keeps shards balanced when file sizes cluster by directory.
        return [
            {
                "kind": kind,
                "root": str(root),
                "shard": i,
                "shards": shards,
                "files": files[i::shards],
            }
            for i in range(shards)
        ]
    per_shard = math.ceil(source["max_rows"] / shards) if source.get("max_rows") else None
    # A dataset that is already a local directory needs no staging.
    hub = kind == "hf" and not Path(source["dataset"]).expanduser().is_dir()
    if hub and source.get("stage", True):
        if stage_dir is None:
            raise ValueError("a staged hf source needs a directory to download into")
        files, commit = stage_hub_files(source, stage_dir)
        return [
            {
                "kind": "parquet",
                "source": f"hf:{source['dataset']}",
                "commit": commit,
                "text_field": source.get("text_field", "content"),
                "path_field": source.get("path_field", "max_stars_repo_path"),
                "shard": i,
                "shards": shards,
                "files": files[i::shards],
                "max_rows": per_shard,
            }
            for i in range(shards)
        ]
    if kind == "hf":
        return [
            {
                "kind": "hf",
                "dataset": source["dataset"],
                "data_dir": source.get("data_dir"),
                "split": source.get("split", "train"),
                "text_field": source.get("text_field", "content"),
                "path_field": source.get("path_field", "max_stars_repo_path"),
                "shard": i,
                "shards": shards,
                "max_rows": per_shard,
            }
            for i in range(shards)
        ]
    raise ValueError(f"unknown source kind {kind!r}")


def _iter_local(spec: dict[str, Any]) -> Iterator[SourceFile]:
    root = spec["root"]
    for path in spec["files"]:
        relative = os.path.relpath(path, root)
        try:
            with open(path, "rb") as handle:
                yield SourceFile(spec["kind"], relative, handle.read())
        except OSError as error:
            yield SourceFile(spec["kind"], relative, None, f"{type(error).__name__}: {error}")


def _iter_hf(spec: dict[str, Any]) -> Iterator[SourceFile]:
    import datasets  # heavy import, only for this source kind

    dataset = datasets.load_dataset(
        spec["dataset"], data_dir=spec.get("data_dir"), split=spec["split"], streaming=True
    )
    if spec["shards"] > 1:
        if dataset.num_shards < spec["shards"]:
            raise ValueError(
                f"{spec['dataset']} has {dataset.num_shards} files to stream; "
                f"seeds.shards={spec['shards']} must not exceed that"
            )
        dataset = dataset.shard(num_shards=spec["shards"], index=spec["shard"])
    if spec.get("max_rows"):
        dataset = dataset.take(spec["max_rows"])
    name = f"hf:{spec['dataset']}"
    for row_index, row in enumerate(dataset):
        text = row.get(spec["text_field"])
        path = str(row.get(spec["path_field"]) or f"row-{spec['shard']}-{row_index}")
        if text is None:
            yield SourceFile(name, path, None, f"missing field {spec['text_field']!r}")
        else:
            yield SourceFile(name, path, text.encode("utf-8", "surrogatepass"))


def _iter_parquet(spec: dict[str, Any]) -> Iterator[SourceFile]:
    """The rows of a staged dataset's parquet files, a batch at a time."""
    import pyarrow.parquet as pq

    text_field, path_field = spec["text_field"], spec["path_field"]
    limit = spec.get("max_rows")
    count = 0
    for file_index, path in enumerate(spec["files"]):
        parquet = pq.ParquetFile(path)
        columns = [c for c in (text_field, path_field) if c in parquet.schema_arrow.names]
        row_index = 0
        for batch in parquet.iter_batches(batch_size=1024, columns=columns):
            for row in batch.to_pylist():
                if limit is not None and count >= limit:
                    return
                count += 1
                text = row.get(text_field)
                where = row.get(path_field) or f"row-{spec['shard']}-{file_index}-{row_index}"
                row_index += 1
                if text is None:
                    yield SourceFile(
                        spec["source"], str(where), None, f"missing field {text_field!r}"
                    )
                else:
                    yield SourceFile(
                        spec["source"], str(where), text.encode("utf-8", "surrogatepass")
                    )


def iter_shard_files(spec: dict[str, Any]) -> Iterator[SourceFile]:
    """Stream the files of one shard spec written by ``plan_shards``."""
    if spec["kind"] in ("local", "stdlib"):
        return _iter_local(spec)
    if spec["kind"] == "parquet":
        return _iter_parquet(spec)
    if spec["kind"] == "hf":
        return _iter_hf(spec)
    raise ValueError(f"unknown source kind {spec['kind']!r}")


def shard_size(spec: dict[str, Any]) -> int | None:
    """Number of files in a shard when known up front (for progress bars)."""
    if spec["kind"] == "parquet":
        import pyarrow.parquet as pq

        rows = sum(pq.ParquetFile(path).metadata.num_rows for path in spec["files"])
        return min(rows, spec["max_rows"]) if spec.get("max_rows") else rows
    if "files" in spec:
        return len(spec["files"])
    return spec.get("max_rows")
