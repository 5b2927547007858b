"""Bad input files: each command stops with one line that names the file and line, not a
traceback; scoring refuses samples that do not cover the benchmark's tasks once each; an
EvalPlus crash is reported with EvalPlus's own output."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import HUMANEVALPLUS_MINI
from selfcodealign.evaluate.datasets import load_dataset
from selfcodealign.evaluate.scoring import score_samples
from selfcodealign.jsonl import BadInput, read_jsonl

MINI_MD5 = "401e75ad986361dccc7afecb4121e295"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "selfcodealign", *args], capture_output=True, text=True, timeout=120
    )


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


GOOD_PROGRAM = json.dumps({"id": "a", "code": "assert 1 + 1 == 2"})
GOOD_SAMPLE = json.dumps(
    {"id": "a-0", "instruction_id": "a", "response": "```python\nx = 1\n```", "tests": "assert x"}
)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": "b", "code": "x = 1"', "not a JSON object"),
        ("[1, 2]", "not a JSON object"),
        ('{"id": "b"}', "no 'code' field"),
        ('{"code": "x = 1"}', "no 'id' field"),
    ],
)
def test_sandbox_names_the_bad_line(tmp_path, line, message):
    source = write(tmp_path / "programs.jsonl", [GOOD_PROGRAM, line])
    run = cli("sandbox", "--input", str(source), "--output", str(tmp_path / "out.jsonl"),
              "--allow-unisolated")  # fmt: skip
    assert run.returncode == 2, run.stderr
    assert f"error: {source}:2: {message}" in run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "out.jsonl").exists()


def test_execution_and_gather_name_the_bad_line(tmp_path):
    broken = write(tmp_path / "responses.jsonl", [GOOD_SAMPLE, '{"id": "b-0", "respo'])
    run = cli("select", "execute", "--settings", json.dumps({"allow_unisolated": True}),
              "--input", str(broken), "--output", str(tmp_path / "exec.jsonl"))  # fmt: skip
    assert run.returncode == 2 and f"{broken}:2: not a JSON object" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr
    no_tests = write(tmp_path / "no-tests.jsonl", [json.dumps({"id": "a-0", "instruction_id": "a",
                                                                "response": "r"})])  # fmt: skip
    run = cli("select", "execute", "--settings", json.dumps({"allow_unisolated": True}),
              "--input", str(no_tests), "--output", str(tmp_path / "exec2.jsonl"))  # fmt: skip
    assert run.returncode == 2 and "no 'tests' field" in run.stderr, run.stderr
    shard = write(tmp_path / "shard-0.jsonl", ['{"row": 0, "status": "ok"', ""])
    out, counts = str(tmp_path / "g.jsonl"), str(tmp_path / "c.json")
    run = cli("instruct", "gather", "--mode", "s2c", "--inputs", str(shard),
              "--output", out, "--counts", counts)  # fmt: skip
    assert run.returncode == 2 and f"{shard}:1: not a JSON object" in run.stderr, run.stderr


def test_read_jsonl_skips_blank_lines_and_checks_fields(tmp_path):
    path = write(tmp_path / "rows.jsonl", ['{"id": 1, "code": "x"}', "", '{"id": 2, "code": "y"}'])
    assert [r["id"] for r in read_jsonl(path, required=("id", "code"))] == [1, 2]
    with pytest.raises(BadInput, match=r"rows.jsonl:1: no 'tests' field"):
        list(read_jsonl(path, required=("tests",)))
    third = write(tmp_path / "third.jsonl", ['{"id": 1}', "", "7"])
    with pytest.raises(BadInput, match=r"third.jsonl:3: not a JSON object: 7"):
        list(read_jsonl(third))


@pytest.fixture(scope="module")
def tasks() -> list[dict]:
    with gzip.open(HUMANEVALPLUS_MINI, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def samples_file(path: Path, rows: list[dict]) -> Path:
    return write(path, [json.dumps(row) for row in rows])


def test_scoring_refuses_missing_repeated_and_unknown_tasks(tasks, tmp_path):
    dataset = load_dataset("humaneval", HUMANEVALPLUS_MINI, MINI_MD5)
    rows = [{"task_id": t["task_id"], "solution": t["prompt"]} for t in tasks]
    cases = {
        "missing: HumanEval/163 (1)": rows[:-1],
        "repeated: HumanEval/0 (1)": [*rows, rows[0]],
        "unknown: HumanEval/999 (1)": [*rows, {"task_id": "HumanEval/999", "solution": ""}],
    }
    for message, case in cases.items():
        with pytest.raises(BadInput, match=message.replace("(", r"\(").replace(")", r"\)")):
            score_samples(samples_file(tmp_path / "s.jsonl", case), dataset, tmp_path / "work")
    run = cli("evaluate", "--samples", str(samples_file(tmp_path / "m.jsonl", rows[:-1])),
              "--dataset", "humaneval", "--dataset-path", str(HUMANEVALPLUS_MINI),
              "--dataset-md5", MINI_MD5, "--output", str(tmp_path / "r.json"))  # fmt: skip
    assert run.returncode == 2 and "missing: HumanEval/163" in run.stderr, run.stderr
    assert not (tmp_path / "r.json").exists()


def test_an_evalplus_crash_is_reported_with_its_output(tasks, tmp_path):
    """Solutions that are not text crash EvalPlus's own reader: the error carries its log."""
    dataset = load_dataset("humaneval", HUMANEVALPLUS_MINI, MINI_MD5)
    rows = [{"task_id": t["task_id"], "solution": 123} for t in tasks]
    with pytest.raises(RuntimeError, match=r"EvalPlus failed \(exit 1\)") as failure:
        score_samples(samples_file(tmp_path / "s.jsonl", rows), dataset, tmp_path / "work")
    assert "load_solutions" in str(failure.value)  # EvalPlus's own traceback, not ours
    assert (tmp_path / "work" / "evalplus.log").exists()
