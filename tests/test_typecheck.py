"""Real Pyright runs: good functions pass, type errors fail, a crashing batch is split."""

from selfcodealign.config import validate_section
from selfcodealign.funnel import StepCounts
from selfcodealign.seeds.typecheck import check_batch, run_pyright, typecheck_records

SETTINGS = validate_section({"batch_size": 4}, "seeds", "typecheck")

GOOD = 'def add(a: int, b: int) -> int:\n    """Add."""\n    return a + b\n'
NEEDS_IMPORT = 'def words(text):\n    """Split."""\n    return re.split(r"\\W+", text)\n'
UNDEFINED = (
    'def f(x):\n    """Uses a name defined nowhere."""\n    return x + undefined_helper(x)\n'
)
WRONG_TYPE = 'def g(x: int) -> str:\n    """Returns the wrong type."""\n    return x\n'


def test_pyright_counts_errors_per_file():
    result = run_pyright([GOOD, UNDEFINED, WRONG_TYPE], timeout_s=120)
    assert not result.crashed
    assert result.errors[0] == 0
    assert result.errors[1] >= 1
    assert result.errors[2] >= 1


def test_missing_imports_are_inferred_before_checking():
    records = [{"seed": code} for code in (GOOD, NEEDS_IMPORT, UNDEFINED, WRONG_TYPE, GOOD)]
    counts = StepCounts("typecheck")
    kept = list(typecheck_records(records, SETTINGS, counts))
    assert [r["seed"] for r in kept] == [GOOD, NEEDS_IMPORT, GOOD]
    assert dict(counts.removed) == {"type_errors": 2}
    # 5 records in batches of 4: two Pyright calls
    assert counts.extra["pyright_calls"] == 2

    no_inference = {**SETTINGS, "infer_imports": False}
    counts = StepCounts("typecheck")
    kept = list(typecheck_records([{"seed": NEEDS_IMPORT}], no_inference, counts))
    assert kept == [] and counts.removed["type_errors"] == 1


POISON = "# poison\n"


def poisoned_runner(codes, timeout_s):
    """Real Pyright, except that any batch holding the poison file crashes (as Pyright can)."""
    from selfcodealign.seeds.typecheck import BatchResult

    if any(code.startswith(POISON) for code in codes):
        return BatchResult({}, crashed=True, reason="exit 3")
    return run_pyright(codes, timeout_s)


def test_a_crash_costs_only_the_poisoned_file():
    poison = POISON + GOOD
    codes = [GOOD, UNDEFINED, poison, GOOD, WRONG_TYPE, GOOD]
    errors = check_batch(codes, 120, poisoned_runner)
    assert errors[2] is None
    assert [e == 0 for i, e in enumerate(errors) if i != 2] == [True, False, True, False, True]

    counts = StepCounts("typecheck")
    settings = {**SETTINGS, "batch_size": 6, "infer_imports": False}
    kept = list(typecheck_records([{"seed": c} for c in codes], settings, counts, poisoned_runner))
    assert len(kept) == 3
    assert dict(counts.removed) == {"type_errors": 2, "pyright_crash": 1}
    # the whole batch, its halves, then quarters down to the poisoned file
    assert counts.extra["pyright_calls"] > 1


def test_a_timeout_is_a_crash():
    result = run_pyright([GOOD], timeout_s=0.001)
    assert result.crashed and result.reason == "timeout"
