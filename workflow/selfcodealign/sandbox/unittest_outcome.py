"""What the unittest runs of a program concluded, for its verdict.

``unittest.main()`` ends a program that passed its tests with ``SystemExit(False)``, which
alone cannot be told from a program that leaves before its asserts. Inside the sandbox's
child, ``watch()`` wraps unittest's runner and entry point: every run's outcome is recorded,
and the exit that ``unittest.main()`` itself raises is remembered (by identity), so a
``sys.exit(0)`` of the program's own is still an early exit.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class UnittestOutcome:
    runs: list[tuple[int, bool]] = field(default_factory=list)  # (tests run, all succeeded)
    main_exits: list[BaseException] = field(default_factory=list)

    def any_failed(self) -> bool:
        return any(not ok for _, ok in self.runs)

    def passed(self) -> bool:
        """At least one test ran and every run succeeded."""
        return bool(self.runs) and not self.any_failed() and sum(n for n, _ in self.runs) > 0

    def raised_by_main(self, leave: BaseException) -> bool:
        return any(leave is exit_ for exit_ in self.main_exits)


def watch(code: str) -> UnittestOutcome:
    """Record the unittest runs of ``code`` (unittest is imported only if the code names it:
    preloading it would slow every fork)."""
    outcome = UnittestOutcome()
    if "unittest" not in code:
        return outcome
    import unittest

    run_suite = unittest.TextTestRunner.run
    run_main = unittest.TestProgram.runTests

    def recording_run(self, test):
        result = run_suite(self, test)
        outcome.runs.append((result.testsRun, result.wasSuccessful()))
        return result

    def recording_main(self, *args, **kwargs):
        try:
            return run_main(self, *args, **kwargs)
        except SystemExit as leave:
            outcome.main_exits.append(leave)
            raise

    unittest.TextTestRunner.run = recording_run
    unittest.TestProgram.runTests = recording_main
    return outcome
