"""The workflow's configuration schema, applied with defaults, with errors a person can act on.

The schema lives in the package (``schemas/config.schema.yaml``); the workflow applies it
before any job runs. The command line reuses it so that a step run by hand gets the same defaults.
"""

from __future__ import annotations

import copy
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from selfcodealign.package_data import data_file

SCHEMA_PATH = data_file("schemas", "config.schema.yaml")


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
    if not isinstance(config, dict):
        raise ConfigError(
            f"config: expected a mapping of keys to values, got {type(config).__name__}"
        )
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
    """The sub-schema of one stage's settings, e.g. ``("seeds", "filters")``, with ``$defs`` kept.

    The first part names a definition (``seeds`` is one seed set, ``model`` one resolved
    model); the rest walks its properties.
    """
    schema = load_schema()
    defs = schema["$defs"]
    node = defs[path[0]]
    for part in path[1:]:
        node = node["properties"][part]
        if "$ref" in node:
            node = defs[node["$ref"].rsplit("/", 1)[-1]]
    return {**node, "$defs": defs}


def validate_section(settings: dict[str, Any], *path: str) -> dict[str, Any]:
    """Validate one stage's settings against its part of the schema, filling its defaults."""
    try:
        return validate_config(settings, section_schema(*path))
    except ConfigError as error:
        prefix = ".".join(path)
        # Each line names a key inside the section: prefix it with the section's own path.
        message = re.sub(
            r"config key (<top level>|\S+?)(?=:)",
            lambda m: f"config key {prefix}" + ("" if m[1] == "<top level>" else f".{m[1]}"),
            str(error),
        )
        raise ConfigError(message) from None


class _StrictLoader(yaml.SafeLoader):
    """Refuses a key given twice in one mapping (PyYAML would keep the last one silently)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False):
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        line = key_node.start_mark.line + 1
        if key in seen:
            raise ConfigError(
                f"{key_node.start_mark.name} line {line}: {key!r} is given twice in one mapping"
                f" (first on line {seen[key]}); names must be unique"
            )
        seen[key] = line
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_config_file(path: str | Path) -> dict[str, Any]:
    """A YAML config file, with one-line errors for duplicate keys, bad YAML or no mapping."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.load(handle, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError(f"{path}{where}: not valid YAML: {problem}") from None
    except OSError as error:
        raise ConfigError(f"{path}: {error.strerror or error}") from None
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}, not a mapping"
        raise ConfigError(f"{path}: the config file is {kind}")
    return data


def check_config_files(paths: list[str | Path]) -> None:
    """Each config file loads strictly: a name given twice in one mapping is an error.

    Across files Snakemake merges mappings key by key, so a later file may override part of
    an entry (a model's revision, say); within one file a repeated key is always a mistake.
    """
    for path in paths:
        load_config_file(path)
