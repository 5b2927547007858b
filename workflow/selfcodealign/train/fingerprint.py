"""What a training's result depends on, so that a rerun resumes only from its own checkpoints.

``fingerprint.json`` beside the checkpoints holds four parts: the data (sha256 of the file's
bytes), the recipe (the finetune settings less the runtime-only ones), the base model (name and
revision) and the seed. Checkpoints left by a run whose fingerprint differs are not resumed.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from selfcodealign.jsonl import read_json, write_json
from selfcodealign.resumable import file_digest

FINGERPRINT = "fingerprint.json"
PARTS = ("data", "recipe", "model", "seed")
# Settings that change how a run is carried out, not what it computes: the per-device batch
# (the effective batch is in the recipe and the accumulation follows from it), the processes,
# checkpointing and memory savings. ``seed`` and ``revision`` have parts of their own.
RUNTIME_ONLY = frozenset(
    {
        "gpus",
        "per_device_batch_size",
        "accelerate_config",
        "save_steps",
        "save_total_limit",
        "cleanup_checkpoints",
        "gradient_checkpointing",
        # Whether a run happens at all, not what it computes (it never reaches checkpoints).
        "min_pairs",
    }
)
_OWN_PARTS = frozenset({"seed", "revision"})


def _canonical(value: Any) -> Any:
    """JSON-ready, with integral floats as ints (``epochs: 4.0`` is ``epochs: 4``)."""
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def recipe(settings: dict[str, Any]) -> dict[str, Any]:
    """The finetune settings that change the trained weights."""
    return _canonical(
        {k: v for k, v in settings.items() if k not in RUNTIME_ONLY and k not in _OWN_PARTS}
    )


def fingerprint(
    settings: dict[str, Any],
    model: str,
    data_path: str | os.PathLike,
    seed: int,
    revision: str | None = None,
) -> dict[str, Any]:
    """The fingerprint of a training; ``seed`` and ``revision`` give way to the settings'."""
    if settings.get("seed") is not None:
        seed = settings["seed"]
    revision = revision if revision is not None else settings.get("revision")
    return _canonical(
        {
            "data": {"sha256": file_digest(data_path, "sha256")},
            "recipe": recipe(settings),
            "model": {"name": str(model), "revision": revision, "files": directory_digest(model)},
            "seed": int(seed),
        }
    )


def directory_digest(path: str | os.PathLike) -> str | None:
    """For a local model directory, a digest of what it holds (file names and sizes, and the
    bytes of its small JSON files): a model rebuilt in the same place is another model. A Hub
    id has none (its revision says which files it is)."""
    root = Path(path)
    if not root.is_dir():
        return None
    digest = hashlib.sha256()
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        name = file.relative_to(root).as_posix()
        digest.update(f"{name}\0{file.stat().st_size}\0".encode())
        if file.suffix == ".json" and file.stat().st_size < 1 << 20:
            digest.update(file.read_bytes())
    return digest.hexdigest()


def read(directory: str | os.PathLike) -> dict[str, Any] | None:
    """The stored fingerprint, or None when there is none (or it cannot be read)."""
    path = Path(directory) / FINGERPRINT
    try:
        stored = read_json(path)
    except (OSError, ValueError):
        return None
    return stored if isinstance(stored, dict) else None


def write(directory: str | os.PathLike, current: dict[str, Any]) -> None:
    """Store ``current`` atomically (call on the main process only)."""
    write_json(Path(directory) / FINGERPRINT, current)


def differing(stored: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """The parts (data, recipe, model, seed) in which two fingerprints differ."""
    return [part for part in PARTS if stored.get(part) != current.get(part)]


def _short(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _detail(part: str, stored: dict[str, Any], current: dict[str, Any]) -> str:
    old, new = stored.get(part), current.get(part)
    if part == "data":
        old_sha = old.get("sha256") if isinstance(old, dict) else None
        return f"data (sha256 {str(old_sha)[:12]}, now {new['sha256'][:12]})"
    if part == "recipe" and isinstance(old, dict):
        keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        changes = ", ".join(f"{k} {_short(old.get(k))} -> {_short(new.get(k))}" for k in keys)
        return f"recipe ({changes})"
    if part == "model" and isinstance(old, dict):
        return f"model ({_model_name(old)} -> {_model_name(new)})"
    return f"{part} ({_short(old)} -> {_short(new)})"


def _model_name(model: dict[str, Any]) -> str:
    revision = model.get("revision")
    return f"{model.get('name')}@{revision}" if revision else str(model.get("name"))


def mismatch(directory: str | os.PathLike, current: dict[str, Any]) -> str | None:
    """Why the checkpoints in ``directory`` are not this training's, or None if they are."""
    stored = read(directory)
    if stored is None:
        state = "an unreadable" if (Path(directory) / FINGERPRINT).exists() else "no"
        return f"checkpoints in {directory} have {state} {FINGERPRINT}, so their run is unknown"
    current = _canonical(current)
    parts = differing(stored, current)
    if not parts:
        return None
    details = ", ".join(_detail(part, stored, current) for part in parts)
    return f"checkpoints in {directory} were made with other {details}"
