"""Execution rows and every selection step, with the Table 9 modes."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from selfcodealign.cli import main
from selfcodealign.config import validate_section
from selfcodealign.sandbox import Limits, SandboxPool
from selfcodealign.select.execute import execution_rows
from selfcodealign.select.programs import (
    ShownTests,
    build_program,
    code_skeleton,
    defined_names,
    format_problem,
    shown_tests,
)
from selfcodealign.select.selection import AUGMENT_HEADERS, select

SETTINGS = validate_section({}, "selection")


def response(name: str, body: str = "return x + 1", words: str = "Add one.") -> str:
    return f'{words}\n\n```python\ndef {name}(x):\n    """Doc."""\n    {body}\n```\n'


@pytest.mark.parametrize(
    ("resp", "tests", "reason"),
    [
        ("", "assert 1", "missing_response_or_tests"),
        ("No code at all.", "assert f(1) == 2", "no_code_in_response"),
        (response("f"), "print(f(1))", "tests_without_assert"),
        (response("f"), "def test():\n    assert f(1) == 2\n", "tests_only_define"),
        (response("f"), "assert f(1) == 2 and (", "tests_do_not_parse"),
        (response("f", "return x  # TODO"), "assert f(1) == 1", "placeholder_text"),
        (response("f", "raise NotImplementedError"), "assert f(1)", "placeholder_text"),
        (response("f", "pass  # your code here"), "assert f(1) is None", "placeholder_text"),
    ],
)
def test_format_check_reasons(resp, tests, reason):
    assert format_problem(resp, tests) == reason


def test_program_joins_every_block_then_the_tests():
    resp = response("f") + "\nAnd a helper:\n```python\nK = 3\n```\n"
    assert format_problem(resp, "assert f(K) == 4") is None
    program, cut = build_program(resp, "assert f(K) == 4")
    assert not cut
    assert program.index("def f") < program.index("K = 3") < program.index("assert f(K)")


def test_tests_shown_in_the_instruction():
    rng = random.Random(0)
    asserts = [f"assert f({i}) == {i + 1}" for i in range(8)]
    counts = set()
    for _ in range(200):
        shown = shown_tests("\n".join(asserts) + "\n", 5, rng)
        lines = shown.code.splitlines()
        assert set(lines) <= set(asserts) and len(set(lines)) == len(lines)
        assert shown.kind == ("assertion" if len(lines) == 1 else "assertions")
        counts.add(len(lines))
    assert counts == {1, 2, 3, 4, 5}  # 1-5 sampled, never more
    # tests that are not all asserts: shown whole when at most 5 lines, else not at all
    mixed = "x = 1\nassert f(x) == 2"
    assert shown_tests(mixed, 5, rng) == ShownTests(mixed, "test")
    assert shown_tests("\n".join(["x = 1"] * 5 + ["assert f(x)"]), 5, rng) is None
    assert shown_tests("print(f(1))", 5, rng) is None


def test_names_come_from_the_first_block_with_methods_and_no_underscores():
    first = (
        "```python\nclass Stack_Queue:\n    def push_item(self, x):\n        pass\n\n"
        "def is_even(n):\n    def _inner():\n        pass\n```\n"
    )
    names = defined_names(first + response("ignored_second_block"))
    assert names.functions == frozenset({"pushitem", "iseven", "inner"})
    assert names.classes == frozenset({"stackqueue"})
    assert defined_names("```python\ndef broken(:\n```\n") is None

    skeleton = code_skeleton(response("Alpha"))
    assert "def Alpha(x)" in skeleton and "Doc." not in skeleton


def sample(iid, k, passed=True, status=None, name=None, instruction=None, tests=None):
    name = name or f"fn_{iid}"
    return {
        "id": f"{iid}-{k}",
        "instruction_id": iid,
        "instruction": instruction or f"Write {name} that adds one to a number, case {iid}.",
        "response": response(name, f"return x + 1  # variant {k}", words=f"Plan {iid} {k}."),
        "tests": tests or f"assert {name}(1) == 2",
        "status": status or ("passed" if passed else "failed"),
        "passed": passed,
    }


def run(samples, **settings):
    rows, steps = select(samples, {**SETTINGS, **settings}, seed=3407)
    rows = list(rows)
    return rows, {step.step: step for step in steps}


def test_one_random_passing_response_per_instruction_is_seeded():
    samples = [sample(f"i{i}", k, passed=k != 0) for i in range(6) for k in range(4)]
    rows, steps = run(samples)
    assert [r["instruction_id"] for r in rows] == [f"i{i}" for i in range(6)]
    assert all(r["passed"] for r in rows)
    assert steps["execution"].removed["failed"] == 6
    assert steps["one_per_instruction"].removed["other_sample_of_instruction"] == 12
    again, _ = run(samples)
    assert [r["id"] for r in again] == [r["id"] for r in rows]
    chosen = {r["id"][-1] for r in rows}
    assert len(chosen) > 1  # not always the first passing sample


def test_table9_modes():
    samples = [sample("a", 0), sample("a", 1, passed=False), sample("b", 0, passed=False)]
    samples.append(sample("c", 0, passed=False, status="timeout"))
    passes, steps = run(samples, mode="passes_only")
    assert [r["id"] for r in passes] == ["a-0"]
    assert dict(steps["execution"].removed) == {"failed": 2, "timeout": 1}
    failures, steps = run(samples, mode="failures_only")
    assert {r["id"] for r in failures} <= {"a-1", "b-0", "c-0"}
    assert [r["instruction_id"] for r in failures] == ["a", "b", "c"]
    assert not any(r["passed"] for r in failures)
    assert dict(steps["execution"].removed) == {"passed": 1}
    anything, steps = run(samples, mode="random_selection")
    assert [r["instruction_id"] for r in anything] == ["a", "b", "c"]
    assert steps["execution"].input == steps["execution"].output == 4


def test_every_filter_step_counts_its_removals():
    long_words = " ".join(["word"] * 201)
    text = " ".join(f"step{i}" for i in range(40))
    samples = [
        sample("ok", 0, instruction=f"{text} ok"),
        {**sample("fmt", 0), "status": "format:tests_without_assert"},
        sample("dup", 0, instruction=f"{text} ok"),
        sample("long", 0, instruction=long_words),
        sample("same_name", 0, name="fn_ok"),
        sample("bench", 0, instruction="Please return sorted(set(l1) & set(l2)) now."),
        sample("near", 0, instruction=f"{text} near"),
    ]
    rows, steps = select(
        samples,
        {**SETTINGS, "decontaminate": True},
        seed=1,
        benchmark_texts=["return sorted(set(l1) & set(l2))"],
    )
    rows = list(rows)
    assert [r["id"] for r in rows] == ["ok-0"]
    assert steps[0].removed == {"tests_without_assert": 1}
    by_name = {s.step: dict(s.removed) for s in steps}
    assert by_name["exact_dedup"] == {"duplicate_instruction": 1}
    assert by_name["instruction_length"] == {"instruction_too_long": 1}
    assert by_name["name_diversity"] == {"repeated_function_names": 1}
    assert by_name["decontamination"] == {"benchmark_contamination": 1}
    assert by_name["minhash_instruction"] == {"near_duplicate_instruction": 1}
    # the steps chain: each one's input is the previous one's output
    for before, after in zip(steps, steps[1:], strict=False):
        assert after.input == before.output


def test_assertion_augmentation_probability():
    samples = [sample(f"i{i}", 0, name=f"fn{i}") for i in range(40)]
    strict = {**SETTINGS["minhash"], "threshold": 0.95, "num_perm": 128, "ngram": 5}
    always, steps = run(samples, augment_probability=1.0, minhash=strict)
    assert len(always) == 40 and steps["decontamination"].extra["augmented"] == 40
    assert all(r["augmented"] for r in always)
    header = AUGMENT_HEADERS["assertion"]
    assert always[0]["instruction"].endswith(f"{header}\n```python\nassert fn0(1) == 2\n```")
    never, _ = run(samples, augment_probability=0.0, minhash=strict)
    assert not any(h in r["instruction"] for r in never for h in AUGMENT_HEADERS.values())
    half, _ = run(samples, minhash=strict)
    assert 8 < sum(r["augmented"] for r in half) < 32
    # short tests that are not plain asserts are shown whole; long ones never
    short = [
        sample(f"c{i}", 0, name=f"g{i}", tests=f"x = 1\nassert g{i}(x) == 2") for i in range(3)
    ]
    shown, _ = run(short, augment_probability=1.0)
    for row in shown:
        name = row["id"].split("-")[0].replace("c", "g")
        block = f"x = 1\nassert {name}(x) == 2"
        assert row["instruction"].endswith(f"{AUGMENT_HEADERS['test']}\n```python\n{block}\n```")
    long_tests = [
        sample(f"l{i}", 0, name=f"h{i}", tests="x = 1\n" * 5 + f"assert h{i}(x) == 2")
        for i in range(3)
    ]
    assert not any(r["augmented"] for r in run(long_tests, augment_probability=1.0)[0])


@pytest.mark.parametrize("words", ["Use assert to check.", "It has a test.", "For example, f(1)."])
def test_instructions_that_mention_tests_are_not_augmented(words):
    rows, _ = run([sample("m", 0, instruction=f"Write fn_m. {words}")], augment_probability=1.0)
    assert not rows[0]["augmented"]


def test_augmentation_comes_before_minhash():
    """Two rows with near-identical instructions differ once their tests are shown."""
    text = "Write a function that adds one to a number and returns the result quickly"
    samples = [
        sample("a", 0, name="fa", instruction=text, tests="assert fa(1) == 2\nassert fa(5) == 6"),
        sample("b", 0, name="fb", instruction=text + " now", tests="assert fb(100) == 101"),
    ]
    # responses unlike each other: only the instructions are near-duplicates
    samples[1]["response"] = response("fb", "return sum((x, 1))", words="Sum a pair instead.")
    loose = {**SETTINGS["minhash"], "threshold": 0.5, "num_perm": 128, "ngram": 3}
    plain, _ = run(samples, augment_probability=0.0, minhash=loose)
    shown, _ = run(samples, augment_probability=1.0, minhash=loose)
    assert len(plain) == 1 and len(shown) == 2


def test_execution_rows_keep_order_around_format_rejections():
    samples = [
        (0, {**sample("a", 0), "tests": "assert fn_a(1) == 2"}),
        (1, {**sample("b", 0), "tests": "print(fn_b(1))"}),
        (2, {**sample("c", 0), "tests": "assert fn_c(1) == 3"}),
    ]
    with SandboxPool(1, Limits(timeout_s=5, memory_mb=512)) as pool:
        rows = list(execution_rows(samples, pool))
    assert [(r["row"], r["status"], r["passed"]) for r in rows] == [
        (0, "passed", True),
        (1, "format:tests_without_assert", False),
        (2, "failed", False),
    ]


INPUT_MAIN = """Reads two numbers.

```python
def add(a, b):
    return a + b

if __name__ == {quote}__main__{quote}:
    a, b = map(int, input().split())
    print(add(a, b))
```
"""


@pytest.mark.parametrize("quote", ['"', "'"])
def test_a_main_block_that_reads_input_is_cut_as_the_reference_does(quote):
    resp = INPUT_MAIN.format(quote=quote)
    program, cut = build_program(resp, "assert add(1, 2) == 3")
    assert cut
    assert "__main__" not in program and "input()" not in program
    assert program.startswith("def add(a, b):") and program.endswith("assert add(1, 2) == 3\n")
    kept, cut = build_program(resp, "assert add(1, 2) == 3", cut_main=False)
    assert not cut and "input().split()" in kept


def test_a_main_block_without_input_is_kept():
    resp = INPUT_MAIN.format(quote='"').replace("map(int, input().split())", "1, 2")
    program, cut = build_program(resp, "assert add(1, 2) == 3")
    assert not cut and "print(add(a, b))" in program


def test_execution_cuts_input_mains_and_counts_them():
    reads_input = {"response": INPUT_MAIN.format(quote='"'), "tests": "assert add(2, 2) == 4"}
    samples = [(0, {**sample("a", 0), **reads_input})]
    with SandboxPool(1, Limits(timeout_s=5, memory_mb=512)) as pool:
        (cut,) = execution_rows(samples, pool)
        (kept,) = execution_rows(samples, pool, cut_input_main=False)
    # stdin is closed in the sandbox: the uncut program dies on input() (EOFError).
    assert (cut["status"], cut["input_main_cut"]) == ("passed", True)
    assert (kept["status"], kept["input_main_cut"]) == ("failed", False)
    assert "EOFError" in kept["detail"]
    _, steps = run([{**sample("a", 0), **reads_input, **cut}, {**sample("b", 0), **kept}])
    assert steps["execution"].extra["input_main_cut"] == 1


# --- the selection command, and Table 9's "random subset" ---------------------------------

STRICT_MINHASH = {"threshold": 0.95, "num_perm": 128, "ngram": 5}


def write_rows(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def select_files(tmp_path, count=30):
    """responses.jsonl and executions.jsonl of ``count`` instructions, two samples each."""
    samples = [
        sample(f"i{i:02d}", k, passed=(i + k) % 3 != 0, name=f"fn{i}")
        for i in range(count)
        for k in range(2)
    ]
    responses = [{k: v for k, v in s.items() if k not in ("status", "passed")} for s in samples]
    executions = [{k: s[k] for k in ("id", "instruction_id", "status", "passed")} for s in samples]
    return (
        write_rows(tmp_path / "responses.jsonl", responses),
        write_rows(tmp_path / "executions.jsonl", executions),
    )


def select_cli(tmp_path, name, mode, seed=3407, size_like=None):
    responses, executions = select_files(tmp_path)
    settings = {"mode": mode, "minhash": STRICT_MINHASH}
    args = ["select", "select", "--settings", json.dumps(settings)]
    args += ["--responses", str(responses), "--executions", str(executions)]
    args += ["--seed", str(seed)]
    if size_like is not None:
        args += ["--size-like", str(size_like)]
    out = tmp_path / name
    args += ["--output", f"{out}.jsonl", "--funnel", f"{out}.funnel.json"]
    args += ["--stats", f"{out}.stats.json"]
    code = main(args)
    if code:
        return code, None, None
    rows = [json.loads(line) for line in Path(f"{out}.jsonl").read_text().splitlines()]
    return code, rows, json.loads(Path(f"{out}.funnel.json").read_text())


def assert_chains(funnel):
    for step in funnel["steps"]:
        assert step["input"] - sum(step["removed"].values()) == step["output"]
    for before, after in zip(funnel["steps"], funnel["steps"][1:], strict=False):
        assert after["input"] == before["output"]
    assert funnel["final"] == funnel["steps"][-1]["output"]


def test_random_subset_matches_the_size_of_another_dataset(tmp_path):
    target = write_rows(tmp_path / "passes.jsonl", [{"id": str(i)} for i in range(12)])
    code, everything, _ = select_cli(tmp_path, "all", "random_selection")
    assert code == 0 and len(everything) == 30
    code, rows, funnel = select_cli(tmp_path, "subset", "random_subset", size_like=target)
    assert code == 0
    assert len(rows) == 12 == funnel["final"]
    assert funnel["mode"] == "random_subset" and funnel["target_size"] == 12
    assert funnel["steps"][-1]["step"] == "subsample"
    assert funnel["steps"][-1]["removed"] == {"subsample": 18}
    assert_chains(funnel)
    # any execution status, and the rows keep the order random selection wrote them in
    assert {r["execution_status"] for r in rows} == {"passed", "failed"}
    position = {r["id"]: n for n, r in enumerate(everything)}
    assert all(r == everything[position[r["id"]]] for r in rows)
    assert [position[r["id"]] for r in rows] == sorted(position[r["id"]] for r in rows)
    # seeded: the same seed draws the same rows, another seed other rows
    _, again, _ = select_cli(tmp_path, "again", "random_subset", size_like=target)
    assert again == rows
    _, other, _ = select_cli(tmp_path, "other", "random_subset", seed=1, size_like=target)
    assert len(other) == 12
    assert [r["id"] for r in other] != [r["id"] for r in rows]


def test_random_subset_keeps_everything_when_too_few_remain(tmp_path, caplog):
    target = write_rows(tmp_path / "passes.jsonl", [{"id": str(i)} for i in range(50)])
    code, rows, funnel = select_cli(tmp_path, "subset", "random_subset", size_like=target)
    assert code == 0 and len(rows) == 30
    assert funnel["steps"][-1] == {
        "step": "subsample",
        "input": 30,
        "output": 30,
        "removed": {},
        "extra": {"target": 50},
    }
    assert "fewer than the target 50" in caplog.text


def test_size_like_goes_with_random_subset_only(tmp_path, capsys):
    target = write_rows(tmp_path / "passes.jsonl", [{"id": "0"}])
    code, _, _ = select_cli(tmp_path, "subset", "random_subset")
    assert code == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ") and "--size-like" in error and "\n" not in error
    code, _, _ = select_cli(tmp_path, "passes", "passes_only", size_like=target)
    assert code == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ") and "random_subset" in error and "\n" not in error
    code, _, _ = select_cli(tmp_path, "missing", "random_subset", size_like=tmp_path / "no.jsonl")
    assert code == 2
    assert "no.jsonl" in capsys.readouterr().err
    assert not (tmp_path / "subset.jsonl").exists()
