"""Benchmark the sandbox: warm zygotes in bubblewrap against one fresh ``python3`` per program.

Run from the repository root (10-20 s on a 2-core machine):

    .venv/bin/python benchmarks/sandbox.py
    .venv/bin/python benchmarks/sandbox.py --workers 2 --limit 50 --json /tmp/sandbox.json
    .venv/bin/python benchmarks/sandbox.py --help

It runs two sets of programs:

(a) HumanEval+ (``--humaneval``): each task's prompt + canonical solution, followed by one
    assert per base input. The expected values come from running the canonical solution once
    in this process (under a short per-task timer); tasks whose values cannot be computed or
    written back as Python literals are skipped and listed. Floats compare with
    ``math.isclose``, everything else with ``==``.
(b) About 300 short generated-style programs: a small function from ~30 templates (string,
    list, math, recursion, classes, dataclasses, generators, the common stdlib imports) and
    3-5 asserts in varied styles (bare, with a message, HumanEval's ``check(candidate)``, and
    one in 30 a ``unittest.TestCase`` run by ``unittest.main()``, as generated tests sometimes
    are); about 10% fail on purpose (a wrong expected value, an exception, a misspelt name),
    so that verdicts differ.

Each set goes through ``SandboxPool(workers, Limits(timeout_s=10, memory_mb=4096))`` (the real
pool, with the isolation ``detect()`` picks: bubblewrap where it works) and through a baseline
in the same run: one fresh ``sys.executable`` process per program, with the same limits set in
a ``preexec_fn`` (new session, RLIMIT_AS/DATA/CPU/NPROC/FSIZE/NOFILE/CORE), a scrubbed
environment, stdin closed, a private temporary directory, and a wall clock that kills the
process group; ``--workers`` threads run it in parallel so that both approaches use the same
cores. The two approaches run each set in alternating slices, so that a change in the
machine's load during the run hits both alike; how busy the CPUs are with other work is
printed before and after the run (on a machine that other work shares, the figures are noisy).

It reports programs/s for both, the speed-up, the per-program overhead (empty programs, one at
a time and in parallel), the pool's start-up time on its own, and whether both approaches give
the same verdict (passed or not) for every program, listing any difference.

It prints plain-text tables and writes every figure as JSON (``--json``). It asserts nothing
about timings: the figures are for reading.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import gzip
import io
import json
import math
import os
import platform
import random
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from report import section, table, write_figures
from selfcodealign.sandbox.isolation import detect
from selfcodealign.sandbox.pool import Limits, SandboxPool

HUMANEVAL = "/work/shared/data/humanevalplus/HumanEvalPlus-v0.1.10.jsonl.gz"
SEED = 3407
GENERATED = 300  # generated programs when --limit is not given
FAILING_SHARE = 0.1
UNITTEST_EVERY = 30  # one generated program in 30 wraps its asserts in a unittest.TestCase
EMPTY_PARALLEL = 100  # empty programs for the parallel overhead figure
EMPTY_SERIAL = 30  # empty programs, one at a time, for the latency figure
EXPECTED_TIMEOUT_S = 2.0  # per HumanEval+ task, computing its expected values in-process
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
EMPTY = "pass\n"
ROUNDS = 8  # alternating slices per set (see ``interleaved``)
SLOWEST = 3  # slowest programs listed per set

Program = tuple[str, str, bool]  # id, code, whether it is meant to pass


# ---------------------------------------------------------------- small helpers


def _literal(value: Any) -> str | None:
    """``repr(value)`` when it reads back as an equal value (no nan, inf, objects), else None."""
    text = repr(value)
    try:
        back = eval(text, {"__builtins__": {}})  # noqa: S307 - our own reprs
    except Exception:
        return None
    return text if type(back) is type(value) and back == value else None


def _has_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, list | tuple | set | frozenset):
        return any(_has_float(v) for v in value)
    if isinstance(value, dict):
        return any(_has_float(v) for v in value.values())
    return False


class _Expired(Exception):
    pass


@contextlib.contextmanager
def _timer(seconds: float):
    """Raise ``_Expired`` in this (main) thread after ``seconds`` of wall time."""

    def expire(_signum, _frame):
        raise _Expired

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# ---------------------------------------------------------------- (a) HumanEval+ programs

CLOSE_HELPER = '''
import math


def _close(got, expected, atol):
    """== except for floats, which compare with math.isclose (nested in lists/tuples too)."""
    if isinstance(expected, float) and isinstance(got, int | float):
        return math.isclose(got, expected, rel_tol=1e-6, abs_tol=max(atol, 1e-9))
    if isinstance(expected, list | tuple) and type(got) is type(expected):
        return len(got) == len(expected) and all(
            _close(g, e, atol) for g, e in zip(got, expected)
        )
    return got == expected

'''


def humaneval_programs(path: str, limit: int | None) -> tuple[list[Program], list[dict], float]:
    """HumanEval+ programs with asserts, the skipped tasks, and the seconds it took."""
    started = time.perf_counter()
    programs: list[Program] = []
    skipped: list[dict] = []
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            if limit is not None and len(programs) >= limit:
                break
            task = json.loads(line)
            task.pop("plus_input", None)  # large and unused: keep this process small to fork
            code, reason = _humaneval_program(task)
            if code is None:
                skipped.append({"task_id": task["task_id"], "reason": reason})
            else:
                programs.append((task["task_id"], code, True))
    return programs, skipped, time.perf_counter() - started


def _humaneval_program(task: dict) -> tuple[str | None, str]:
    source = task["prompt"] + task["canonical_solution"]
    name = task["entry_point"]
    atol = float(task.get("atol") or 0)
    asserts: list[str] = []
    try:
        with (
            _timer(EXPECTED_TIMEOUT_S),
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()),
        ):
            namespace: dict[str, Any] = {"__name__": "__humaneval__"}
            exec(compile(source, task["task_id"], "exec", dont_inherit=True), namespace)  # noqa: S102
            function = namespace[name]
            for args in task["base_input"]:
                call_args = ", ".join(_literal(a) or "\0" for a in args)
                if "\0" in call_args:
                    return None, "an input has no literal form"
                expected = function(*copy.deepcopy(args))
                literal = _literal(expected)
                if literal is None:
                    return None, f"the expected value has no literal form: {type(expected)}"
                call = f"{name}({call_args})"
                if _has_float(expected):
                    asserts.append(f"assert _close({call}, {literal}, {atol!r})")
                else:
                    asserts.append(f"assert {call} == {literal}")
    except _Expired:
        return None, f"computing the expected values took over {EXPECTED_TIMEOUT_S} s"
    except Exception as error:
        return None, f"{type(error).__name__}: {error}"[:200]
    if not asserts:
        return None, "no base inputs"
    helper = CLOSE_HELPER if any("_close(" in a for a in asserts) else "\n\n"
    return source.rstrip() + "\n\n" + helper + "\n".join(asserts) + "\n", ""


# ---------------------------------------------------------------- (b) generated programs

WORDS = [
    "alpha", "Banana", "cherry", "delta", "Echo", "fox", "golf", "hotel", "India", "juliet",
    "kilo", "lima", "Mike", "noon", "racecar", "level", "Otto", "papa", "quebec", "Romeo",
    "sierra", "tango", "kayak", "uniform", "Victor", "whiskey", "x-ray", "yankee", "zulu",
]  # fmt: skip


def _ints(rng: random.Random, lo: int = -20, hi: int = 50, n: tuple = (3, 8)) -> list[int]:
    return [rng.randint(lo, hi) for _ in range(rng.randint(*n))]


def _text(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6)))


def _nested(rng: random.Random, depth: int = 0) -> list:
    out: list = []
    for _ in range(rng.randint(1, 4)):
        if depth < 2 and rng.random() < 0.3:
            out.append(_nested(rng, depth + 1))
        else:
            out.append(rng.randint(0, 9))
    return out


def _brackets(rng: random.Random) -> str:
    if rng.random() < 0.5:  # balanced by construction
        out = ""
        for _ in range(rng.randint(1, 4)):
            left, right = rng.choice(["()", "[]", "{}"])
            out = rng.choice([left + out + right, out + left + right])
        return out
    return "".join(rng.choice("()[]{}") for _ in range(rng.randint(1, 8)))


# (name, source with FN for the function's name and K for a small constant, arguments)
TEMPLATES: list[tuple[str, str, Callable[[random.Random], tuple]]] = [
    (
        "linear",
        "def FN(x):\n    return x * K + K // 2\n",
        lambda r: (r.randint(-100, 100),),
    ),
    (
        "count_vowels",
        'def FN(s):\n    return sum(1 for c in s.lower() if c in "aeiou")\n',
        lambda r: (_text(r),),
    ),
    (
        "fibonacci",
        "def FN(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n"
        "    return a\n",
        lambda r: (r.randint(0, 80),),
    ),
    (
        "is_prime",
        "def FN(n):\n    if n < 2:\n        return False\n    i = 2\n    while i * i <= n:\n"
        "        if n % i == 0:\n            return False\n        i += 1\n    return True\n",
        lambda r: (r.randint(0, 100_000),),
    ),
    (
        "run_length",
        "from itertools import groupby\n\n\ndef FN(s):\n"
        '    return "".join(f"{ch}{len(list(run))}" for ch, run in groupby(s))\n',
        lambda r: ("".join(r.choice("aab") for _ in range(r.randint(1, 12))),),
    ),
    (
        "top_words",
        "from collections import Counter\n\n\ndef FN(text):\n"
        "    counts = Counter(text.lower().split())\n"
        "    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:K]\n",
        lambda r: (_text(r) + " " + _text(r),),
    ),
    (
        "flatten",
        "def FN(items):\n    out = []\n    for item in items:\n"
        "        if isinstance(item, list):\n            out.extend(FN(item))\n"
        "        else:\n            out.append(item)\n    return out\n",
        lambda r: (_nested(r),),
    ),
    (
        "insert_position",
        "import bisect\n\n\ndef FN(xs, x):\n    return bisect.bisect_left(sorted(xs), x)\n",
        lambda r: (_ints(r), r.randint(-20, 50)),
    ),
    (
        "k_smallest",
        "import heapq\n\n\ndef FN(xs):\n    return heapq.nsmallest(K, xs)\n",
        lambda r: (_ints(r, n=(5, 12)),),
    ),
    (
        "sum_numbers",
        'import re\n\n\ndef FN(s):\n    return sum(int(d) for d in re.findall(r"\\d+", s))\n',
        lambda r: (" ".join(f"{r.choice(WORDS)}{r.randint(0, 999)}" for _ in range(3)),),
    ),
    (
        "balanced",
        "class Stack:\n    def __init__(self):\n        self.items = []\n\n"
        "    def push(self, x):\n        self.items.append(x)\n\n"
        "    def pop(self):\n        return self.items.pop()\n\n"
        "    def empty(self):\n        return not self.items\n\n\n"
        "def FN(s):\n"
        '    pairs = {")": "(", "]": "[", "}": "{"}\n    stack = Stack()\n    for ch in s:\n'
        '        if ch in "([{":\n            stack.push(ch)\n        elif ch in pairs:\n'
        "            if stack.empty() or stack.pop() != pairs[ch]:\n"
        "                return False\n    return stack.empty()\n",
        lambda r: (_brackets(r),),
    ),
    (
        "by_price",
        "from dataclasses import dataclass\n\n\n@dataclass(order=True)\nclass Item:\n"
        "    price: int\n    name: str\n\n\ndef FN(pairs):\n"
        "    return [item.name for item in sorted(Item(p, n) for n, p in pairs)]\n",
        lambda r: ([(r.choice(WORDS), r.randint(1, 99)) for _ in range(r.randint(2, 6))],),
    ),
    (
        "grid_paths",
        "from functools import lru_cache\n\n\n@lru_cache(maxsize=None)\ndef FN(rows, cols):\n"
        "    if rows == 1 or cols == 1:\n        return 1\n"
        "    return FN(rows - 1, cols) + FN(rows, cols - 1)\n",
        lambda r: (r.randint(1, 14), r.randint(1, 14)),
    ),
    (
        "transpose",
        "def FN(matrix):\n    return [list(row) for row in zip(*matrix)]\n",
        lambda r: ([_ints(r, n=(3, 3)) for _ in range(r.randint(1, 4))],),
    ),
    (
        "is_palindrome",
        "def FN(s):\n    cleaned = [c.lower() for c in s if c.isalnum()]\n"
        "    return cleaned == cleaned[::-1]\n",
        lambda r: (r.choice(WORDS),),
    ),
    (
        "lcm_all",
        "import math\nfrom functools import reduce\n\n\ndef FN(xs):\n"
        "    return reduce(lambda a, b: a * b // math.gcd(a, b), xs, 1)\n",
        lambda r: (_ints(r, 1, 20),),
    ),
    (
        "json_roundtrip",
        "import json\n\n\ndef FN(d):\n    return json.loads(json.dumps(d, sort_keys=True))\n",
        lambda r: ({w: r.randint(0, 9) for w in r.sample(WORDS, r.randint(1, 4))},),
    ),
    (
        "caesar",
        "import string\n\n\ndef FN(s):\n    lower = string.ascii_lowercase\n"
        "    return s.translate(str.maketrans(lower, lower[K:] + lower[:K]))\n",
        lambda r: (_text(r).lower(),),
    ),
    (
        "collatz",
        "def FN(n):\n    steps = 0\n    while n != 1:\n"
        "        n = n // 2 if n % 2 == 0 else 3 * n + 1\n        steps += 1\n    return steps\n",
        lambda r: (r.randint(1, 10_000),),
    ),
    (
        "median",
        "import statistics\n\n\ndef FN(xs):\n    return statistics.median(xs)\n",
        lambda r: (_ints(r),),
    ),
    (
        "invert",
        "def FN(d):\n    out = {}\n    for key, value in d.items():\n"
        "        out.setdefault(value, []).append(key)\n    return out\n",
        lambda r: ({w: r.randint(0, 3) for w in r.sample(WORDS, r.randint(1, 6))},),
    ),
    (
        "digit_squares",
        "def FN(n):\n    total = 0\n    while n:\n        n, digit = divmod(n, 10)\n"
        "        total += digit * digit\n    return total\n",
        lambda r: (r.randint(0, 10**9),),
    ),
    (
        "harmonic",
        "from fractions import Fraction\n\n\ndef FN(xs):\n"
        "    return str(sum(Fraction(1, x) for x in xs))\n",
        lambda r: (_ints(r, 1, 12),),
    ),
    (
        "weekday",
        "import datetime\n\n\ndef FN(year, month, day):\n"
        '    return datetime.date(year, month, day).strftime("%A")\n',
        lambda r: (r.randint(1900, 2100), r.randint(1, 12), r.randint(1, 28)),
    ),
    (
        "distinct_orders",
        "from itertools import permutations\n\n\ndef FN(s):\n"
        "    return len(set(permutations(s)))\n",
        lambda r: ("".join(r.choice("abc") for _ in range(r.randint(1, 6))),),
    ),
    (
        "scaled_mean",
        "def FN(xs):\n    return sum(xs) / len(xs) * K / 10\n",
        lambda r: (_ints(r),),
    ),
    (
        "hypotenuse",
        "import math\n\n\ndef FN(a, b):\n    return round(math.hypot(a, b), K)\n",
        lambda r: (r.randint(1, 50), r.randint(1, 50)),
    ),
    (
        "word_lengths",
        "def FN(text):\n    return {word: len(word) for word in text.split()}\n",
        lambda r: (_text(r),),
    ),
    (
        "even_squares",
        "def _evens(limit):\n    n = 0\n    while n < limit:\n        yield n\n        n += 2\n\n\n"
        "def FN(limit):\n    return sum(x * x for x in _evens(limit))\n",
        lambda r: (r.randint(0, 500),),
    ),
    (
        "tolerant_sum",
        "def FN(items):\n    total = 0\n    for item in items:\n        try:\n"
        "            total += int(item)\n        except ValueError:\n            total -= 1\n"
        "    return total\n",
        lambda r: ([r.choice([str(r.randint(-9, 99)), r.choice(WORDS)]) for _ in range(5)],),
    ),
]


def _wrong(value: Any) -> Any:
    """A value that differs from ``value`` (for a deliberately failing assert)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, list):
        return [*value, 0]
    if isinstance(value, dict):
        return {**value, "extra": 0}
    return None


def _assert(call: str, expected: Any, style: int) -> list[str]:
    literal = repr(expected)
    if isinstance(expected, float):
        return [f"assert math.isclose({call}, {literal}, rel_tol=1e-9)"]
    if style == 1:
        return [f"result = {call}", f"assert result == {literal}, result"]
    if style == 2:
        return [f"assert {literal} == {call}"]
    return [f"assert {call} == {literal}"]


def generated_programs(count: int, seed: int = SEED) -> list[Program]:
    """``count`` programs: a function from TEMPLATES and 3-5 asserts; ~10% fail on purpose."""
    rng = random.Random(seed)
    failing = set(rng.sample(range(count), round(count * FAILING_SHARE)))
    unittests = set(rng.sample(range(count), count // UNITTEST_EVERY))
    programs: list[Program] = []
    for index in range(count):
        name, template, make_args = TEMPLATES[index % len(TEMPLATES)]
        k = rng.randint(2, 9)
        fn = rng.choice([name, f"{name}_{k}", "solution", f"compute_{name}"])
        source = template.replace("FN", fn).replace("K", str(k))
        namespace: dict[str, Any] = {"__name__": "__generated__"}
        exec(compile(source, name, "exec", dont_inherit=True), namespace)  # noqa: S102
        function = namespace[fn]
        calls = []
        for _ in range(rng.randint(3, 5)):
            args = make_args(rng)
            expected = function(*copy.deepcopy(args))
            calls.append((f"{fn}({', '.join(repr(a) for a in args)})", expected))
        style = 4 if index in unittests else rng.randrange(4)
        lines: list[str] = []
        for call, expected in calls:
            lines += _assert(call, expected, style % 3)
        passes = index not in failing
        if not passes:
            kind = index % 3
            if kind == 0:  # a wrong expected value in one assert
                call, expected = rng.choice(calls)
                lines += _assert(call, _wrong(expected), 0)
            elif kind == 1 and _raises(function):  # the function raises
                lines.append(f"assert {fn}(None) == 0")
            else:  # a misspelt name
                lines.append(f"assert {fn}_v2({calls[0][0].split('(', 1)[1]} is not None")
        if style == 3:  # HumanEval-style: the asserts in a check(candidate) function
            body = "\n".join("    " + line.replace(f"{fn}(", "candidate(") for line in lines)
            tests = f"def check(candidate):\n{body}\n\n\ncheck({fn})\n"
        elif style == 4:  # a unittest.TestCase run by unittest.main()
            body = "\n".join("        " + line for line in lines)
            title = name.title().replace("_", "")
            tests = (
                f"import unittest\n\n\nclass Test{title}(unittest.TestCase):\n"
                f"    def test_examples(self):\n{body}\n\n\n"
                'if __name__ == "__main__":\n    unittest.main()\n'
            )
        else:
            tests = "\n".join(lines) + "\n"
        header = "import math\n\n" if "math.isclose" in tests else ""
        code = f"{header}{source}\n\n{tests}"
        programs.append((f"generated/{index:03d}-{name}", code, passes))
    return programs


def _raises(function: Callable) -> bool:
    try:
        function(None)
    except Exception:
        return True
    return False


# ---------------------------------------------------------------- the two approaches


def _preexec(limits: Limits) -> Callable[[], None]:
    """The baseline child's confinement, mirroring the zygote's ``_confine`` limits."""
    memory = limits.memory_mb * 1024 * 1024
    timeout = int(limits.timeout_s)
    wanted = [
        (resource.RLIMIT_AS, memory, memory),
        (resource.RLIMIT_DATA, memory, memory),
        (resource.RLIMIT_CPU, timeout + 1, timeout + 2),
        (resource.RLIMIT_NPROC, limits.max_processes, limits.max_processes),
        (resource.RLIMIT_FSIZE, limits.max_file_mb * 1024 * 1024, limits.max_file_mb * 1024**2),
        (resource.RLIMIT_NOFILE, 256, 256),
        (resource.RLIMIT_CORE, 0, 0),
    ]

    def confine() -> None:  # runs between fork and exec: no locks, no allocation-heavy work
        os.setsid()
        for kind, soft, hard in wanted:
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(kind, (soft, hard))

    return confine


# The baseline judges like the sandbox: a pass means the program ran to its end (the line
# after its last statement printed this) with exit status 0, not merely "exited with 0"; or
# that unittest.main() ended it after running at least one test, all of them passing.
END_MARK = "__program_reached_its_end__"
UNITTEST_PASSED = re.compile(rb"^Ran [1-9][0-9]* tests? in [^\n]*\n+OK\s*$", re.M)


def run_baseline(code: str, limits: Limits) -> dict:
    """One fresh interpreter for one program, confined like the zygote's children."""
    workdir = tempfile.mkdtemp(prefix="bench-")
    started = time.perf_counter()
    try:
        path = os.path.join(workdir, "program.py")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(f"{code}\nprint({END_MARK!r})\n")
        env = {"PATH": SAFE_PATH, "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8"}
        process = subprocess.Popen(
            [sys.executable, "-I", path],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=_preexec(limits),  # noqa: PLW1509 - the baseline asked for
        )
        timed_out = False
        try:
            output, _ = process.communicate(timeout=limits.timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)  # whatever the program left behind
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "passed": not timed_out
        and process.returncode == 0
        and (
            output.rstrip().endswith(END_MARK.encode())
            or UNITTEST_PASSED.search(output.rstrip()) is not None
        ),
        "returncode": process.returncode,
        "timed_out": timed_out,
        "duration_s": time.perf_counter() - started,
        "output": output[-limits.output_bytes :].decode("utf-8", "replace"),
    }


def time_pool(pool: SandboxPool, programs: list[Program]) -> tuple[float, list[dict]]:
    started = time.perf_counter()
    results = list(pool.run((pid, code) for pid, code, _ in programs))
    return time.perf_counter() - started, results


def time_baseline(
    executor: ThreadPoolExecutor, programs: list[Program], limits: Limits
) -> tuple[float, list[dict]]:
    started = time.perf_counter()
    results = list(executor.map(lambda p: run_baseline(p[1], limits), programs))
    return time.perf_counter() - started, results


def interleaved(
    pool: SandboxPool,
    executor: ThreadPoolExecutor,
    programs: list[Program],
    limits: Limits,
    rounds: int = ROUNDS,
) -> tuple[tuple[float, list[dict]], tuple[float, list[dict]]]:
    """Both approaches over the same programs, in alternating slices, times summed.

    On a shared machine the load changes during a run; alternating slices (and which
    approach goes first in each) exposes both to the same conditions, instead of giving one
    a quiet minute and the other a busy one.
    """
    pool_s = base_s = 0.0
    pool_results: list[dict] = []
    base_results: list[dict] = []
    size = max(1, math.ceil(len(programs) / rounds))
    for index, start in enumerate(range(0, len(programs), size)):
        chunk = programs[start : start + size]
        order = ("pool", "base") if index % 2 == 0 else ("base", "pool")
        for which in order:
            if which == "pool":
                seconds, results = time_pool(pool, chunk)
                pool_s += seconds
                pool_results += results
            else:
                seconds, results = time_baseline(executor, chunk, limits)
                base_s += seconds
                base_results += results
    return (pool_s, pool_results), (base_s, base_results)


def compare(name: str, programs: list[Program], workers: int, pool_run, base_run) -> dict:
    """Throughput and verdict agreement of one set, from both approaches' runs."""
    pool_s, pool_results = pool_run
    base_s, base_results = base_run
    n = len(programs)
    differences = []
    for (pid, _code, intended), p, b in zip(programs, pool_results, base_results, strict=True):
        if p["passed"] != b["passed"]:
            differences.append(
                {
                    "id": pid,
                    "intended": "pass" if intended else "fail",
                    "pool": f"{p['status']}: {p['detail']}"[:160],
                    "baseline": ("timeout" if b["timed_out"] else f"exit {b['returncode']}")
                    + (": " + b["output"].strip().splitlines()[-1][:120] if b["output"] else ""),
                }
            )
    zygote_ms = [1000 * r["duration_s"] for r in pool_results]
    slowest = sorted(range(n), key=lambda i: -zygote_ms[i])[:SLOWEST]
    return {
        "set": name,
        "programs": n,
        "intended_pass": sum(1 for p in programs if p[2]),
        "pool_seconds": pool_s,
        "pool_programs_per_s": n / pool_s,
        "pool_ms_per_program_per_worker": 1000 * pool_s * workers / n,
        "pool_zygote_ms_median": statistics.median(zygote_ms),
        "pool_passed": sum(r["passed"] for r in pool_results),
        "pool_statuses": dict(Counter(r["status"] for r in pool_results)),
        "baseline_seconds": base_s,
        "baseline_programs_per_s": n / base_s,
        "baseline_ms_per_program_per_worker": 1000 * base_s * workers / n,
        "baseline_ms_median": statistics.median(1000 * r["duration_s"] for r in base_results),
        "baseline_passed": sum(r["passed"] for r in base_results),
        "speedup": base_s / pool_s,
        "slowest_in_pool": [
            {
                "id": programs[i][0],
                "pool_in_zygote_ms": zygote_ms[i],
                "baseline_ms": 1000 * base_results[i]["duration_s"],
            }
            for i in slowest
        ],
        "verdicts_identical": not differences,
        "differences": differences,
        "pool_vs_intended": sum(
            r["passed"] == p[2] for r, p in zip(pool_results, programs, strict=True)
        ),
    }


def empty_overhead(
    pool: SandboxPool, executor: ThreadPoolExecutor, limits: Limits, workers: int
) -> dict:
    """Per-program cost of an empty program: one at a time (latency) and in parallel."""
    serial_pool, serial_base, zygote = [], [], []
    for i in range(EMPTY_SERIAL):
        started = time.perf_counter()
        (result,) = pool.run([(f"empty-serial/{i}", EMPTY)])
        serial_pool.append(1000 * (time.perf_counter() - started))
        zygote.append(1000 * result["duration_s"])
        started = time.perf_counter()
        run_baseline(EMPTY, limits)
        serial_base.append(1000 * (time.perf_counter() - started))
    empties = [(f"empty/{i}", EMPTY, True) for i in range(EMPTY_PARALLEL)]
    (pool_s, pool_results), (base_s, base_results) = interleaved(pool, executor, empties, limits)
    assert all(r["passed"] for r in pool_results + base_results), "an empty program failed"
    return {
        "serial_programs": EMPTY_SERIAL,
        "pool_latency_ms_median": statistics.median(serial_pool),
        "pool_latency_ms_p90": _p90(serial_pool),
        "pool_in_zygote_ms_median": statistics.median(zygote),
        "baseline_latency_ms_median": statistics.median(serial_base),
        "baseline_latency_ms_p90": _p90(serial_base),
        "parallel_programs": EMPTY_PARALLEL,
        "pool_wall_ms_per_program": 1000 * pool_s / EMPTY_PARALLEL,
        "pool_ms_per_program_per_worker": 1000 * pool_s * workers / EMPTY_PARALLEL,
        "pool_programs_per_s": EMPTY_PARALLEL / pool_s,
        "baseline_wall_ms_per_program": 1000 * base_s / EMPTY_PARALLEL,
        "baseline_ms_per_program_per_worker": 1000 * base_s * workers / EMPTY_PARALLEL,
        "baseline_programs_per_s": EMPTY_PARALLEL / base_s,
    }


def cpu_busy(seconds: float = 1.0) -> float:
    """Share of all CPUs busy over ``seconds`` while this process sleeps (from /proc/stat)."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat", encoding="ascii") as handle:
            fields = [int(v) for v in handle.readline().split()[1:]]
        return sum(fields[:8]), fields[3] + fields[4]  # all time, idle + iowait

    try:
        total_a, idle_a = sample()
        time.sleep(seconds)
        total_b, idle_b = sample()
    except OSError:
        return float("nan")
    return 1 - (idle_b - idle_a) / max(1, total_b - total_a)


def _p90(values: list[float]) -> float:
    return sorted(values)[min(len(values) - 1, int(0.9 * len(values)))]


# ---------------------------------------------------------------- the report


def print_startup(startup: dict) -> None:
    section("pool start-up (excluded from the throughput figures)")
    rows = [
        ["isolation probe: detect() runs bwrap + python -I -c pass once", startup["probe_s"]],
        [
            f"SandboxPool({startup['workers']} workers): zygotes started and ready",
            startup["pool_s"],
        ],
        ["the same per worker (workers start one after another)", startup["per_worker_s"]],
        ["SandboxPool.close()", startup["close_s"]],
    ]
    print(table(["step", "seconds"], [[step, round(s, 3)] for step, s in rows]))


def print_overhead(empty: dict) -> None:
    section("per-program overhead: the empty program `pass`")
    print(
        table(
            ["measure", "pool ms", "baseline ms", "ratio"],
            [
                [
                    f"latency, one at a time, median of {empty['serial_programs']}",
                    empty["pool_latency_ms_median"],
                    empty["baseline_latency_ms_median"],
                    f"{empty['baseline_latency_ms_median'] / empty['pool_latency_ms_median']:.1f}x",
                ],
                [
                    "latency, one at a time, p90",
                    empty["pool_latency_ms_p90"],
                    empty["baseline_latency_ms_p90"],
                    f"{empty['baseline_latency_ms_p90'] / empty['pool_latency_ms_p90']:.1f}x",
                ],
                [
                    f"wall per program, {empty['parallel_programs']} in parallel",
                    empty["pool_wall_ms_per_program"],
                    empty["baseline_wall_ms_per_program"],
                    f"{empty['baseline_wall_ms_per_program'] / empty['pool_wall_ms_per_program']:.1f}x",  # noqa: E501
                ],
                [
                    "worker time per program, in parallel",
                    empty["pool_ms_per_program_per_worker"],
                    empty["baseline_ms_per_program_per_worker"],
                    "",
                ],
            ],
        )
    )
    print(
        f"(of the pool's one-at-a-time latency, {empty['pool_in_zygote_ms_median']:.2f} ms "
        "median is inside the zygote: fork, confine, run, collect; the rest is the parent's "
        "JSON round trip and thread hand-off)"
    )


def print_sets(sets: list[dict], workers: int) -> None:
    section(f"throughput, {workers} workers each")
    rows = []
    for s in sets:
        rows.append(
            [
                s["set"],
                s["programs"],
                s["pool_seconds"],
                s["pool_programs_per_s"],
                s["baseline_seconds"],
                s["baseline_programs_per_s"],
                f"{s['speedup']:.1f}x",
            ]
        )
    print(
        table(
            ["set", "programs", "pool s", "pool prog/s", "base s", "base prog/s", "speed-up"],
            rows,
        )
    )
    print()
    print(
        table(
            [
                "set",
                "pool ms/prog/worker",
                "in zygote ms (median)",
                "base ms/prog/worker",
                "base ms (median)",
            ],
            [
                [
                    s["set"],
                    s["pool_ms_per_program_per_worker"],
                    s["pool_zygote_ms_median"],
                    s["baseline_ms_per_program_per_worker"],
                    s["baseline_ms_median"],
                ]
                for s in sets
            ],
        )
    )
    print()
    print(
        table(
            ["slowest in the pool", "in zygote ms", "baseline ms"],
            [
                [row["id"], row["pool_in_zygote_ms"], row["baseline_ms"]]
                for s in sets
                for row in s["slowest_in_pool"]
            ],
        )
    )
    section("verdicts: passed or not, per program")
    print(
        table(
            [
                "set",
                "programs",
                "meant to pass",
                "pool passed",
                "base passed",
                "pool = intended",
                "identical",
            ],
            [
                [
                    s["set"],
                    s["programs"],
                    s["intended_pass"],
                    s["pool_passed"],
                    s["baseline_passed"],
                    s["pool_vs_intended"],
                    "yes" if s["verdicts_identical"] else f"no ({len(s['differences'])})",
                ]
                for s in sets
            ],
        )
    )
    for s in sets:
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(s["pool_statuses"].items()))
        print(f"pool statuses, {s['set']}: {statuses}")
    for s in sets:
        for d in s["differences"]:
            print(
                f"DIFFERENT {d['id']} (meant to {d['intended']}): pool {d['pool']!r}; "
                f"baseline {d['baseline']!r}"
            )


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark the sandbox pool against one fresh python3 per program.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--workers", type=int, default=2, help="pool workers and baseline threads")
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        help=f"programs per set (without it: all HumanEval+ tasks, {GENERATED} generated)",
    )
    parser.add_argument("--json", default="benchmarks/out/sandbox.json", help="figures as JSON")
    parser.add_argument("--humaneval", default=HUMANEVAL, help="HumanEval+ .jsonl.gz")
    parser.add_argument("--timeout-s", type=float, default=10.0)
    parser.add_argument("--memory-mb", type=int, default=4096)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    limits = Limits(timeout_s=args.timeout_s, memory_mb=args.memory_mb)

    humaneval, skipped, humaneval_s = humaneval_programs(args.humaneval, args.limit)
    generated = generated_programs(args.limit if args.limit is not None else GENERATED)
    sets = {"humaneval+": humaneval, "generated": generated}

    probe_started = time.perf_counter()
    isolation = detect("auto")  # cached: the pool below reuses this answer
    probe_s = time.perf_counter() - probe_started
    print(
        f"sandbox benchmark: Python {platform.python_version()} ({sys.executable}), "
        f"{os.cpu_count()} CPUs, {len(os.sched_getaffinity(0))} usable; isolation {isolation}; "
        f"{args.workers} workers; limits timeout {limits.timeout_s:g} s, "
        f"memory {limits.memory_mb} MB"
    )
    load_before = os.getloadavg()
    busy_before = cpu_busy()
    print(
        f"before the run: CPUs {100 * busy_before:.0f}% busy with other work (over 1 s), "
        f"load average {load_before[0]:.2f} (1 min)"
        + ("  WARNING: the figures are noisy" if busy_before > 0.2 else "")
    )
    print(
        f"programs: {len(humaneval)} HumanEval+ ({len(skipped)} tasks skipped, expected values "
        f"computed in {humaneval_s:.1f} s), {len(generated)} generated "
        f"({sum(not p[2] for p in generated)} meant to fail)"
    )
    for skip in skipped:
        print(f"  skipped {skip['task_id']}: {skip['reason']}")

    pool_started = time.perf_counter()
    pool = SandboxPool(args.workers, limits, isolation)
    pool_s = time.perf_counter() - pool_started
    executor = ThreadPoolExecutor(args.workers)
    results: list[dict] = []
    try:
        # Warm-up, excluded from every figure. The first programs of each approach pay one-off
        # costs that a sandbox job running thousands of programs pays once, not per program:
        # reading the interpreter, the stdlib's .pyc files and the venv's .pth files into the
        # page cache (whichever approach ran first would pay it for both), the zygotes' first
        # forks taking copy-on-write faults on pages touched once and then shared, and the
        # executors starting their threads. Both approaches get the same warm-up (empty
        # programs and the first programs of each set), so neither profits from the other's.
        # The pool's own start-up (bubblewrap namespaces, zygotes importing PRELOAD) is real
        # but paid once per job; it is timed above and reported on its own instead of being
        # spread over the few hundred programs here, where it would dominate the pool's rate.
        warm = [(f"warm/{i}", EMPTY, True) for i in range(4 * args.workers)]
        warm += [p for programs in sets.values() for p in programs[: 2 * args.workers]]
        time_pool(pool, warm)
        time_baseline(executor, warm, limits)

        empty = empty_overhead(pool, executor, limits, args.workers)
        for name, programs in sets.items():
            pool_run, base_run = interleaved(pool, executor, programs, limits)
            results.append(compare(name, programs, args.workers, pool_run, base_run))
    finally:
        executor.shutdown()
        close_started = time.perf_counter()
        pool.close()
        close_s = time.perf_counter() - close_started
    startup = {
        "workers": args.workers,
        "probe_s": probe_s,
        "pool_s": pool_s,
        "per_worker_s": pool_s / args.workers,
        "close_s": close_s,
    }

    total_n = sum(s["programs"] for s in results)
    total = {
        "programs": total_n,
        "pool_seconds": sum(s["pool_seconds"] for s in results),
        "baseline_seconds": sum(s["baseline_seconds"] for s in results),
    }
    total["pool_programs_per_s"] = total_n / total["pool_seconds"]
    total["baseline_programs_per_s"] = total_n / total["baseline_seconds"]
    total["speedup"] = total["baseline_seconds"] / total["pool_seconds"]
    total["verdicts_identical"] = all(s["verdicts_identical"] for s in results)
    total["pool_seconds_with_startup"] = total["pool_seconds"] + pool_s

    print_startup(startup)
    print_overhead(empty)
    print_sets(results, args.workers)
    section("summary")
    goal = "met" if total["speedup"] >= 5 else "NOT met"
    print(
        f"both sets: pool {total['pool_programs_per_s']:.1f} programs/s, baseline "
        f"{total['baseline_programs_per_s']:.1f} programs/s: {total['speedup']:.1f}x "
        f"(goal at least 5x: {goal}); verdicts identical: "
        f"{'yes' if total['verdicts_identical'] else 'no'}"
    )
    print(
        f"with the pool's start-up counted: {total_n / total['pool_seconds_with_startup']:.1f} "
        f"programs/s, {total['baseline_seconds'] / total['pool_seconds_with_startup']:.1f}x"
    )
    load_after = os.getloadavg()
    busy_after = cpu_busy()
    print(
        f"after the run: CPUs {100 * busy_after:.0f}% busy with other work (over 1 s), "
        f"load average {load_after[0]:.2f} (1 min)"
    )
    elapsed = time.perf_counter() - started
    print(f"\ntotal run time: {elapsed:.1f} s")

    report = {
        "machine": {
            "python": platform.python_version(),
            "executable": sys.executable,
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "usable_cpus": len(os.sched_getaffinity(0)),
            "isolation": isolation,
            "load_average_start": load_before,
            "load_average_end": load_after,
            "cpu_busy_start": busy_before,
            "cpu_busy_end": busy_after,
        },
        "args": vars(args),
        "limits": limits.__dict__,
        "humaneval_skipped": skipped,
        "humaneval_expected_seconds": humaneval_s,
        "startup": startup,
        "empty": empty,
        "sets": results,
        "total": total,
        "total_seconds": elapsed,
    }
    write_figures(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
