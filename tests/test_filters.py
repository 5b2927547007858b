from textwrap import dedent

import pytest
from selfcodealign.config import validate_section
from selfcodealign.funnel import StepCounts
from selfcodealign.seeds.filters import StaticFilter

DEFAULTS = validate_section({}, "seeds", "filters")


def fn(body: str, signature: str = "f(x)") -> str:
    """A documented function with ``body`` indented under ``signature``."""
    lines = dedent(body).strip("\n").splitlines()
    return f'def {signature}:\n    """Docstring."""\n' + "".join(f"    {line}\n" for line in lines)


GOOD = fn("return x + 1")


@pytest.mark.parametrize(
    ("reason", "rejected", "passing"),
    [
        ("no_return_value", fn("print(x)"), fn("return x")),
        ("no_return_value", fn("return"), fn("return None")),
        (
            "no_return_value",
            fn("def g():\n    return 1\ng()"),  # only the nested function returns
            fn("def g():\n    return 1\nreturn g()"),
        ),
        ("no_arguments", fn("return 1", "f()"), fn("return 1", "f(*args)")),
        ("no_arguments", fn("return 1", "f()"), fn("return 1", "f(*, key)")),
        (
            "too_long",
            fn("\n".join(["x += 1"] * 148) + "\nreturn x"),
            fn("\n".join(["x += 1"] * 147) + "\nreturn x"),
        ),
        ("banned_word", fn("# TODO: speed up\nreturn x"), fn("# tidy up later\nreturn x")),
        ("banned_word", fn("return x  # FixMe"), fn("return x  # fix me")),
        ("banned_word", fn("return debug(x)"), fn("return x")),
        (
            "banned_import",
            fn("import os\nreturn os.getcwd()"),
            fn("import re\nreturn re.escape(x)"),
        ),
        ("banned_import", fn("return sys.argv[x]"), fn("return system[x]")),
        ("banned_import", fn("from matplotlib import pyplot\nreturn pyplot"), fn("return x")),
        ("banned_import", fn("import seaborn as sns\nreturn sns"), fn("import json\nreturn json")),
    ],
)
def test_each_filter_rejects_and_passes(reason, rejected, passing):
    static = StaticFilter(DEFAULTS)
    assert static.rejection(rejected) == reason
    assert static.rejection(passing) is None


def test_line_limit_is_exactly_150():
    static = StaticFilter(DEFAULTS)
    at_limit = fn("\n".join(["x += 1"] * 147) + "\nreturn x")
    assert len(at_limit.splitlines()) == 150
    assert static.rejection(at_limit) is None


def test_settings_switch_filters_off():
    relaxed = StaticFilter(
        {**DEFAULTS, "require_return_value": False, "banned_words": [], "banned_imports": []}
    )
    assert relaxed.rejection(fn("print(x)")) is None
    assert relaxed.rejection(fn("# todo\nreturn x")) is None
    assert relaxed.rejection(fn("import os\nreturn os.sep")) is None


def test_first_failing_filter_names_the_reason_and_counts_add_up():
    static = StaticFilter(DEFAULTS, benchmark_texts=["return x * 42"])
    records = [
        {"seed": GOOD},
        {"seed": fn("print(x)", "f()")},  # fails return and args: return is checked first
        {"seed": fn("return 1", "f()")},
        {"seed": fn("import os\nreturn os.sep  # todo")},  # word before import
        {"seed": fn("return x * 42")},
        {"seed": GOOD},
    ]
    counts = StepCounts("static_filters")
    kept = list(static.apply(records, counts))
    assert kept == [{"seed": GOOD}, {"seed": GOOD}]
    assert counts.input == 6 and counts.output == 2
    assert dict(counts.removed) == {
        "no_return_value": 1,
        "no_arguments": 1,
        "banned_word": 1,
        "benchmark_contamination": 1,
    }
    assert sum(counts.removed.values()) == counts.input - counts.output
