"""Progress bars on stderr that stay readable in a rule's log file."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress_bar(
    total: int | None = None, initial: int = 0, desc: str | None = None, unit: str = "it"
) -> tqdm:
    """A bar updated by hand; in a log file every redraw is a new line, so it redraws rarely."""
    interactive = sys.stderr.isatty()
    return tqdm(
        total=total,
        initial=initial,
        desc=desc,
        unit=unit,
        file=sys.stderr,
        mininterval=0.5 if interactive else 30,
        dynamic_ncols=interactive,
    )


def progress(
    items: Iterable[T], desc: str, total: int | None = None, unit: str = "it"
) -> Iterator[T]:
    """``items``, counted on a progress bar."""
    with progress_bar(total=total, desc=desc, unit=unit) as bar:
        for item in items:
            yield item
            bar.update()
