"""Run untrusted generated programs safely and fast: warm interpreters forked per program,
inside bubblewrap (or the rule's Apptainer container), with limits and a wall clock."""

from selfcodealign.sandbox.pool import Limits, SandboxPool

__all__ = ["Limits", "SandboxPool"]
