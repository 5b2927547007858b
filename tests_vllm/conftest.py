"""The vLLM suite shares the main suite's helpers and its CI rule: under CI=true a skip fails."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from ci_skips import pytest_runtest_makereport  # noqa: E402, F401
