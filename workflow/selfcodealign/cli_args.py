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


def add_settings(parser: argparse.ArgumentParser, *section: str, of=None) -> None:
    """``--settings JSON`` for one config section; ``main`` validates it and fills defaults.

    ``of``, a function of the parsed arguments, picks the section when another argument
    decides it (the prompt mode, say).
    """
    where = ".".join(section) if section else "the step's section"
    parser.add_argument(
        "--settings",
        type=json_object,
        default={},
        help=f"JSON object of config key {where} (defaults filled in)",
    )
    parser.set_defaults(section=of or section)


def resolve_section(args: argparse.Namespace) -> tuple[str, ...] | None:
    section = getattr(args, "section", None)
    return section(args) if callable(section) else section


def add_isolation_arguments(parser: argparse.ArgumentParser, unisolated_help: str) -> None:
    """``--isolation`` and ``--allow-unisolated``, for the commands that run untrusted code."""
    parser.add_argument("--isolation", choices=["auto", "bwrap"], default="auto")
    parser.add_argument("--allow-unisolated", action="store_true", help=unisolated_help)
