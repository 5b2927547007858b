"""The workflow's configuration schema, applied with defaults, with errors a person can act on.

The schema lives in ``workflow/schemas/config.schema.yaml``; Snakemake applies it with
``validate``. The command line reuses it so that a step run by hand gets the same defaults.
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """A configuration value that the schema rejects."""


@cache
def load_schema() -> dict[str, Any]:
    with open(SCHEMA_PATH, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _with_defaults(validator_class):
    """Extend a jsonschema validator so that it fills in ``default`` values as it validates."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def describe_error(error: jsonschema.ValidationError) -> str:
    """One line naming the offending key and what is allowed there."""
    key = ".".join(str(part) for part in error.absolute_path) or "<top level>"
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        return f"config key {key}: {error.message}; allowed keys: {', '.join(allowed)}"
    if error.validator == "enum":
        return f"config key {key}: {error.instance!r} is not allowed; allowed values: " + ", ".join(
            repr(value) for value in error.validator_value
        )
    if error.validator == "anyOf" and all("required" in s for s in error.validator_value):
        options = " or ".join("+".join(s["required"]) for s in error.validator_value)
        return f"config key {key}: needs {options}"
    hint = f" ({schema['description']})" if "description" in schema else ""
    return f"config key {key}: {error.message}{hint}"


def validate_config(config: dict[str, Any], schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return a copy of ``config`` with defaults filled in, or raise ``ConfigError``."""
    schema = schema or load_schema()
    validator_class = _with_defaults(jsonschema.validators.validator_for(schema))
    instance = copy.deepcopy(config)
    errors = sorted(
        validator_class(schema).iter_errors(instance), key=lambda e: list(e.absolute_path)
    )
    if errors:
        raise ConfigError("\n".join(describe_error(error) for error in errors))
    return instance


def section_schema(*path: str) -> dict[str, Any]:
    """The sub-schema at ``path`` (e.g. ``("seeds", "filters")``), with ``$defs`` kept."""
    schema = load_schema()
    node = schema
    for part in path:
        node = node["properties"][part]
    return {**node, "$defs": schema.get("$defs", {})}


def validate_section(settings: dict[str, Any], *path: str) -> dict[str, Any]:
    """Validate one stage's settings against its part of the schema, filling its defaults."""
    try:
        return validate_config(settings, section_schema(*path))
    except ConfigError as error:
        prefix = ".".join(path)
        raise ConfigError(str(error).replace("config key ", f"config key {prefix}.")) from None
