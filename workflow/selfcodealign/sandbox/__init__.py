"""Run untrusted generated programs safely and fast: warm interpreters forked per program,
inside bubblewrap (or the rule's Apptainer container), with limits and a wall clock."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from selfcodealign.sandbox.pool import Limits, SandboxPool

__all__ = ["Limits", "SandboxPool"]


def __getattr__(name: str):
    # Lazy: the zygote imports this package too, and every module it holds makes forks slower.
    if name in __all__:
        from selfcodealign.sandbox import pool

        return getattr(pool, name)
    raise AttributeError(name)
