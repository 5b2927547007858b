"""Argument helpers shared by every stage's command line."""

from __future__ import annotations

import argparse
import json
from typing import Any


def json_object(text: str) -> dict[str, Any]:
    """Parse a JSON object given on the command line."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON: {error}") from error
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object")
    return value


def add_settings(parser: argparse.ArgumentParser, *section: str) -> None:
    """``--settings JSON`` for one config section; ``main`` validates it and fills defaults."""
    parser.add_argument(
        "--settings",
        type=json_object,
        default={},
        help=f"JSON object of config key {'.'.join(section)} (defaults filled in)",
    )
    parser.set_defaults(section=section)
