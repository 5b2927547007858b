"""``python -m selfcodealign import-gguf``: a GGUF model file as a plain model directory.

A base model may come as one GGUF file, given by path or as a file shipped inside an installed
Python package (``package:<import_name>/<file name>``). transformers reads GGUF (dequantizing
the weights) but will not save such a model, so the weights are copied into a model built from
the same configuration, without the quantization entry, and that model is saved: safetensors
weights, config, generation config and tokenizer files with the chat template. Any tool that
loads a model directory (transformers, vLLM) then loads it as it would any other.
"""

from __future__ import annotations

import argparse
import importlib.machinery
import importlib.metadata
import importlib.util
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfcodealign.config import ConfigError
from selfcodealign.jsonl import write_json
from selfcodealign.resumable import file_digest

log = logging.getLogger(__name__)

PACKAGE_PREFIX = "package:"
GGUF_MAGIC = b"GGUF"
DTYPES = ("float32", "bfloat16")


class GGUFSourceError(ConfigError):
    """A GGUF source that cannot be used: missing, not installed, or not a GGUF file."""


@dataclass(frozen=True)
class GGUFSource:
    spec: str
    path: Path
    package: str | None = None
    package_version: str | None = None


def _package_dirs(name: str) -> list[Path]:
    """The directories of an installed package (a namespace package may have several), found
    without importing it or its parents."""
    parts = name.split(".")
    if not all(part.isidentifier() for part in parts):
        raise GGUFSourceError(f"{name!r} is not a Python package name")
    spec = importlib.util.find_spec(parts[0])
    for part in parts[1:]:
        if spec is None or not spec.submodule_search_locations:
            break
        spec = importlib.machinery.PathFinder.find_spec(part, list(spec.submodule_search_locations))
    if spec is None:
        raise GGUFSourceError(f"package {name!r} is not installed")
    if spec.submodule_search_locations:
        return [Path(location) for location in spec.submodule_search_locations]
    if spec.origin and spec.has_location:
        return [Path(spec.origin).parent]
    raise GGUFSourceError(f"package {name!r} has no directory on disk")


def _package_version(name: str) -> str | None:
    top = name.split(".")[0]
    for distribution in importlib.metadata.packages_distributions().get(top, [top]):
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def resolve_source(spec: str) -> GGUFSource:
    """The GGUF file a source names: a path, or ``package:<import_name>/<file name>``."""
    package = version = None
    if spec.startswith(PACKAGE_PREFIX):
        package, _, relative = spec[len(PACKAGE_PREFIX) :].partition("/")
        if not package or not relative:
            raise GGUFSourceError(f"{spec!r}: expected {PACKAGE_PREFIX}<import_name>/<file name>")
        directories = _package_dirs(package)
        found = [directory / relative for directory in directories]
        found = [path for path in found if path.is_file()]
        if not found:
            where = ", ".join(str(directory) for directory in directories)
            raise GGUFSourceError(f"{spec!r}: no file {relative!r} in package {package} ({where})")
        path = found[0]
        version = _package_version(package)
    else:
        path = Path(spec)
        if not path.is_file():
            raise GGUFSourceError(f"{spec!r}: no such file")
    with open(path, "rb") as handle:
        if handle.read(len(GGUF_MAGIC)) != GGUF_MAGIC:
            raise GGUFSourceError(f"{spec!r}: not a GGUF file ({path})")
    return GGUFSource(spec, path.resolve(), package, version)


def load_gguf(source: GGUFSource) -> tuple[Any, Any]:
    """The model (dequantized to float32) and tokenizer that transformers reads from the file."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    directory, name = str(source.path.parent), source.path.name
    tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name)
    return model, tokenizer


def plain_copy(model: Any, dtype: str) -> Any:
    """The same network as a model that ``save_pretrained`` accepts, its weights in ``dtype``."""
    import torch
    from transformers import AutoModelForCausalLM

    config = model.config.__class__.from_dict(model.config.to_dict())
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = dtype
    plain = AutoModelForCausalLM.from_config(config, dtype=getattr(torch, dtype))
    plain.load_state_dict(model.state_dict())
    plain.generation_config = model.generation_config
    return plain.eval()


def _default_permissions(directory: Path) -> None:
    """Give a directory and its files the modes the umask gives new ones: the temporary
    directory, and the weights file safetensors writes, are private to the owner otherwise."""
    umask = os.umask(0)
    os.umask(umask)
    for path in [directory, *directory.rglob("*")]:
        path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)


def import_gguf(spec: str, dtype: str, output: str | os.PathLike) -> dict[str, Any]:
    """Write the model a GGUF source names into the directory ``output``, atomically."""
    if dtype not in DTYPES:
        raise GGUFSourceError(f"dtype {dtype!r}: expected one of {', '.join(DTYPES)}")
    source = resolve_source(spec)
    import transformers

    started = time.monotonic()
    log.info("import-gguf: %s -> %s", spec, source.path)
    record: dict[str, Any] = {
        "source": spec,
        "path": str(source.path),
        "sha256": file_digest(source.path, "sha256"),
        "size_bytes": source.path.stat().st_size,
        "package": source.package,
        "package_version": source.package_version,
        "transformers_version": transformers.__version__,
        "gguf_version": _package_version("gguf"),
        "dtype": dtype,
    }
    model, tokenizer = load_gguf(source)
    log.info("import-gguf: read and dequantized in %.1f s", time.monotonic() - started)
    plain = plain_copy(model, dtype)
    del model

    target = Path(output)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{target.name}.tmp-", dir=target.parent))
    try:
        plain.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        write_json(staging / "source.json", record)
        _default_permissions(staging)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info(
        "import-gguf: %s (%s) written to %s in %.1f s",
        source.path.name,
        dtype,
        target,
        time.monotonic() - started,
    )
    return record


def _run(args: argparse.Namespace) -> int:
    import_gguf(args.source, args.dtype, args.output)
    return 0


def add_command(stages: argparse._SubParsersAction) -> None:
    command = stages.add_parser(
        "import-gguf", help="import a GGUF model file as a plain model directory"
    )
    command.add_argument(
        "--source",
        required=True,
        help="a GGUF file: a path, or package:<import_name>/<file name> (in an installed package)",
    )
    command.add_argument("--dtype", choices=DTYPES, default="float32", help="weight type saved")
    command.add_argument("--output", required=True, help="model directory to write")
    command.set_defaults(func=_run, section=None)
