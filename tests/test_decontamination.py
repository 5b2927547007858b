import gzip
import json

from selfcodealign.config import validate_section
from selfcodealign.seeds.decontamination import (
    SubstringMatcher,
    docstring,
    humaneval_texts,
    load_benchmark_texts,
    mbpp_texts,
)
from selfcodealign.seeds.filters import StaticFilter


def _tasks(path):
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def test_real_humaneval_plus_functions_are_rejected(humanevalplus):
    texts = humaneval_texts(str(humanevalplus))
    static = StaticFilter(validate_section({}, "seeds", "filters"), texts)
    tasks = _tasks(humanevalplus)
    assert len(tasks) == 164
    contaminated = 0
    for task in tasks:
        # A seed that is a benchmark function copied verbatim: signature, docstring, solution.
        prompt = task["prompt"]
        function = prompt[prompt.index("def ") :] + task["canonical_solution"]
        reason = static.rejection(function)
        contaminated += reason == "benchmark_contamination"
        # Whatever an earlier filter says, the matcher itself must see the benchmark text.
        assert static._benchmarks.first_match(function) is not None, task["task_id"]
    # Most canonical solutions return a value, take arguments and import nothing banned.
    assert contaminated > 100


def test_unrelated_function_is_not_flagged(humanevalplus):
    matcher = SubstringMatcher(humaneval_texts(str(humanevalplus)))
    clean = (
        'def triple(values):\n    """Triple each value."""\n    return [3 * v for v in values]\n'
    )
    assert matcher.first_match(clean) is None


def test_builtin_humaneval_is_the_original_benchmark():
    texts = humaneval_texts("builtin")
    # the docstring and the solution of each of 164 tasks, less a few trivial solutions
    assert 164 * 2 - 10 < len(set(texts)) < 164 * 2
    assert "return x + y" not in texts and "return len(string)" not in texts
    assert any(t.startswith("Check if in given list of numbers, are any two") for t in texts)


def test_docstrings_are_their_inner_text_and_the_last_one_counts():
    helper_first = (
        'def helper(x):\n    """Helper doc."""\n    return x\n\n\n'
        'def task(y):\n    """ The task: sum y.\n    >>> task(1)\n    1\n    """\n'
    )
    assert docstring(helper_first) == "The task: sum y.\n    >>> task(1)\n    1"
    assert docstring("def f():\n    '''Single quotes.'''\n") == "Single quotes."


def test_matching_ignores_case_and_skips_trivial_solutions(tmp_path):
    path = tmp_path / "he.jsonl"
    rows = [
        {"prompt": 'def add(x, y):\n    """Add two numbers x and y"""\n',
         "canonical_solution": "    return x + y\n"},
        {"prompt": 'def twice(s):\n    """Repeat the string s two times"""\n',
         "canonical_solution": "    out = s + s\n    return out\n"},
    ]  # fmt: skip
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    matcher = SubstringMatcher(humaneval_texts(str(path)))
    assert matcher.first_match("# ADD TWO NUMBERS X AND Y, please") == "Add two numbers x and y"
    assert matcher.first_match("def plus(x, y):\n    return x + y\n") is None  # trivial
    assert matcher.first_match("def g(s):\n    OUT = S + S\n    return out") is not None


def test_gsm8k_questions_and_ds1000_prompts_are_optional_texts(tmp_path):
    gsm8k = tmp_path / "gsm8k.jsonl"
    gsm8k.write_text(json.dumps({"question": " Tom has 3 apples. ", "answer": "#### 3"}) + "\n")
    ds1000 = tmp_path / "ds1000.jsonl"
    prompt = "import numpy as np\na = np.arange(4)\n# reverse a\nBEGIN SOLUTION\n<code>"
    ds1000.write_text(json.dumps({"prompt": prompt}) + "\n")
    settings = {**validate_section({}, "seeds", "decontamination"), "humaneval": None}
    settings.update(mbpp=None, gsm8k=str(gsm8k), ds1000=str(ds1000))
    texts = load_benchmark_texts(settings)
    assert texts == {
        "gsm8k": ["Tom has 3 apples."],
        "ds1000": ["import numpy as np\na = np.arange(4)\n# reverse a"],
    }
    assert validate_section({}, "seeds", "decontamination")["gsm8k"] is None


def test_mbpp_uses_the_test_split_only(tmp_path):
    path = tmp_path / "mbpp.jsonl"
    rows = [
        {"task_id": 5, "text": "train task", "code": "def train(): return 1"},
        {
            "task_id": 11,
            "text": "Remove first and last occurrence",
            "code": "def remove_occ(s, ch): return s",
        },
        {"task_id": 510, "text": "last test task", "code": "def last(x): return x"},
        {"task_id": 511, "text": "validation task", "code": "def val(x): return x"},
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    texts = mbpp_texts(str(path))
    assert "def remove_occ(s, ch): return s" in texts and "last test task" in texts
    assert not any("train" in t or "val(" in t for t in texts)


def test_null_location_skips_a_benchmark(humanevalplus):
    texts = load_benchmark_texts({"humaneval": str(humanevalplus), "mbpp": None})
    assert list(texts) == ["humaneval"]
