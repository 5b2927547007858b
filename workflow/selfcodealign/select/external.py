"""An existing instruction dataset as training pairs (Table 11's comparison datasets).

OSS-Instruct, Evol-Instruct or a distilled set, read from a local file or the Hugging Face Hub,
is written as ``sft.jsonl`` rows (``id``, ``instruction``, ``response``, ``source``, ``sha1``)
that the training step reads as it reads selected pairs. Rows whose instruction or response is
missing, empty or not a string are dropped and counted in the funnel.

Settings (a JSON object; the keys below, nothing else):

- ``path``: a local ``.jsonl``, ``.jsonl.gz``, ``.json`` or ``.json.gz`` file (``.json``: an
  array of objects), or null;
- ``hub``: a Hugging Face dataset id, or null; exactly one of ``path`` and ``hub``;
- ``revision``: the Hub revision (branch, tag or commit), or null for the default branch;
- ``split``: the Hub split, default ``train``;
- ``instruction_field``, ``response_field``: the columns to read, default ``instruction`` and
  ``response``;
- ``max_rows``: at most this many rows are written (the first usable ones in source order), or
  null for all.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import sys
from collections.abc import Iterator
from typing import IO, Any

from selfcodealign.config import ConfigError, validate_section
from selfcodealign.funnel import StepCounts, build_funnel
from selfcodealign.jsonl import write_json, write_jsonl

log = logging.getLogger(__name__)

SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz")


class ExternalDataError(ValueError):
    """A dataset file or Hub dataset that cannot be read as rows of objects."""


def validate_settings(settings: dict[str, Any], where: str = "external") -> dict[str, Any]:
    """The settings with defaults filled in (the schema's ``external`` section), or
    ``ConfigError`` naming the offending key; ``where`` is the key's place in the config."""
    try:
        filled = validate_section(settings, "external")
    except ConfigError as error:
        raise ConfigError(str(error).replace("config key external", where)) from None
    if (filled["path"] is None) == (filled["hub"] is None):
        raise ConfigError(
            f"{where}.path and {where}.hub: give exactly one (a local file or a Hub dataset id)"
        )
    if filled["path"] is not None:
        if not filled["path"].endswith(SUFFIXES):
            raise ConfigError(
                f"{where}.path: {filled['path']!r} must end with one of {', '.join(SUFFIXES)}"
            )
        if filled["revision"] is not None:
            raise ConfigError(f"{where}.revision: only for {where}.hub, not a local path")
    return filled


def _open_text(path: str) -> IO[str]:
    if path.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ExternalDataError(f"{where}: expected a JSON object, got {type(value).__name__}")
    return value


def read_file_rows(path: str) -> Iterator[dict[str, Any]]:
    """The objects of a JSONL file (one a line) or of a JSON file holding an array of them."""
    try:
        with _open_text(path) as handle:
            if path.endswith((".jsonl", ".jsonl.gz")):
                for line_number, line in enumerate(handle, 1):
                    if not line.strip():
                        continue
                    try:
                        value = json.loads(line)
                    except json.JSONDecodeError as error:
                        raise ExternalDataError(
                            f"{path}:{line_number}: not valid JSON: {error.msg} "
                            f"(column {error.colno})"
                        ) from None
                    yield _object(value, f"{path}:{line_number}")
                return
            try:
                data = json.load(handle)
            except json.JSONDecodeError as error:
                raise ExternalDataError(
                    f"{path}:{error.lineno}: not valid JSON: {error.msg} (column {error.colno})"
                ) from None
    except (UnicodeDecodeError, EOFError, gzip.BadGzipFile) as error:
        raise ExternalDataError(f"{path}: cannot be read as text: {error}") from None
    if not isinstance(data, list):
        raise ExternalDataError(f"{path}: expected a JSON array of objects")
    for index, value in enumerate(data):
        yield _object(value, f"{path}: element {index}")


def read_hub_rows(hub: str, revision: str | None, split: str) -> Iterator[dict[str, Any]]:
    """The rows of one split of a Hugging Face dataset."""
    import datasets  # heavy import, only for this source

    try:
        dataset = datasets.load_dataset(hub, revision=revision, split=split)
    except Exception as error:  # the library raises many kinds; all mean "not loadable"
        at = f"@{revision}" if revision else ""
        raise ExternalDataError(
            f"{hub}{at} split {split}: cannot be loaded: {type(error).__name__}: {error}"
        ) from None
    yield from dataset


def _field_problem(row: dict[str, Any], field: str, name: str) -> str | None:
    if field not in row or row[field] is None:
        return f"missing_{name}"
    if not isinstance(row[field], str):
        return f"non_string_{name}"
    if not row[field].strip():
        return f"empty_{name}"
    return None


def _digest(instruction: str, response: str) -> str:
    return hashlib.sha1(f"{instruction}\0{response}".encode("utf-8", "surrogatepass")).hexdigest()


def external_pairs(
    rows: Iterator[dict[str, Any]], settings: dict[str, Any], source: str, steps: list[StepCounts]
) -> Iterator[dict[str, Any]]:
    """Training rows from dataset rows; ``steps`` gets the counts of every step, in order."""
    fields = StepCounts(
        "fields",
        extra={
            "instruction_field": settings["instruction_field"],
            "response_field": settings["response_field"],
        },
    )
    steps.append(fields)
    limit = settings["max_rows"]
    capped = StepCounts("max_rows", extra={"max_rows": limit}) if limit is not None else None
    if capped is not None:
        steps.append(capped)
    for index, row in enumerate(rows):
        reason = _field_problem(row, settings["instruction_field"], "instruction") or (
            _field_problem(row, settings["response_field"], "response")
        )
        if reason is not None:
            fields.drop(reason)
            continue
        fields.keep()
        if capped is not None:
            if capped.output >= limit:
                capped.drop("over_max_rows")
                continue
            capped.keep()
        instruction = row[settings["instruction_field"]]
        response = row[settings["response_field"]]
        yield {
            "id": str(index),
            "instruction": instruction,
            "response": response,
            "source": source,
            "sha1": _digest(instruction, response),
        }


def run_external(settings: dict[str, Any], output: str, funnel_path: str) -> int:
    """Write the training rows and the funnel; a one-line error and status 2 on bad input."""
    settings = validate_settings(settings)
    if settings["path"] is not None:
        source = settings["path"]
        rows = read_file_rows(settings["path"])
    else:
        at = f"@{settings['revision']}" if settings["revision"] else ""
        source = f"hf:{settings['hub']}{at}:{settings['split']}"
        rows = read_hub_rows(settings["hub"], settings["revision"], settings["split"])
    steps: list[StepCounts] = []
    try:
        # Read everything before writing: a bad row leaves no output behind.
        pairs = list(external_pairs(rows, settings, source, steps))
    except (ExternalDataError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    written = write_jsonl(output, pairs)
    funnel = build_funnel(steps)
    funnel["source"] = source
    if funnel["final"] != written:
        raise RuntimeError(f"funnel ends at {funnel['final']} but {written} rows were written")
    write_json(funnel_path, funnel)
    log.info("external %s: %d pairs written; %s", source, written, dict(steps[0].removed))
    if written == 0:
        log.warning("external %s: no usable rows (fields %s)", source, steps[0].extra)
    return 0
