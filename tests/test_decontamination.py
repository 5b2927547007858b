import gzip
import json

from selfcodealign.config import validate_section
from selfcodealign.seeds.decontamination import (
    SubstringMatcher,
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
    # prompt, the prompt from `def` on, and the solution for each of 164 tasks (some coincide)
    assert 164 * 2 < len(set(texts)) <= 164 * 3


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
