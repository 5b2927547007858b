"""Progress bars on stderr that stay readable in a rule's log file."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress(
    items: Iterable[T], desc: str, total: int | None = None, unit: str = "it"
) -> Iterator[T]:
    # In a log file every redraw is a new line: redraw rarely there.
    interactive = sys.stderr.isatty()
    yield from tqdm(
        items,
        desc=desc,
        total=total,
        unit=unit,
        file=sys.stderr,
        mininterval=0.5 if interactive else 30,
        dynamic_ncols=interactive,
    )
