"""``python -m selfcodealign.evaluate --samples ...``: the ``evaluate`` command on its own."""

from __future__ import annotations

import argparse
import logging
import sys

from selfcodealign.evaluate.commands import add_command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="selfcodealign.evaluate")
    add_command(parser.add_subparsers(dest="stage", required=True))
    args = parser.parse_args(["evaluate", *(sys.argv[1:] if argv is None else argv)])
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
