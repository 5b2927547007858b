"""External instruction datasets (Table 11) as training pairs: ``select external``."""

from __future__ import annotations

import gzip
import json

import pytest
from selfcodealign.cli import main
from selfcodealign.funnel import StepCounts, build_funnel
from selfcodealign.jsonl import read_json, read_jsonl

GOOD = [
    {"instruction": "Write add(a, b).", "response": "def add(a, b):\n    return a + b"},
    {"instruction": "Reverse a string.", "response": "def rev(s):\n    return s[::-1]"},
    {"instruction": "Square x.", "response": "def sq(x):\n    return x * x"},
]


def lines(rows) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def external(tmp_path, settings, name="sft"):
    out = tmp_path / f"{name}.jsonl"
    funnel = tmp_path / f"{name}.funnel.json"
    code = main(
        ["select", "external", "--settings", json.dumps(settings)]
        + ["--output", str(out), "--funnel", str(funnel)]
    )
    if code:
        return code, None, None
    return code, list(read_jsonl(out)), read_json(funnel)


def one_line_error(capsys) -> str:
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ") and "\n" not in error, error
    return error


def test_jsonl_rows_become_training_pairs(tmp_path):
    path = tmp_path / "oss.jsonl"
    path.write_text(lines(GOOD[:2]) + "\n" + lines(GOOD[2:]))  # a blank line is skipped
    code, rows, funnel = external(tmp_path, {"path": str(path)})
    assert code == 0
    assert [(r["instruction"], r["response"]) for r in rows] == [
        (g["instruction"], g["response"]) for g in GOOD
    ]
    assert [r["id"] for r in rows] == ["0", "1", "2"]
    assert {r["source"] for r in rows} == {str(path)}
    assert len({r["sha1"] for r in rows}) == 3
    assert funnel["final"] == 3 and funnel["source"] == str(path)
    # the same input gives the same rows
    _, again, _ = external(tmp_path, {"path": str(path)}, name="again")
    assert again == rows


def test_gzip_and_custom_field_names(tmp_path):
    renamed = [{"problem": g["instruction"], "solution": g["response"], "lang": "py"} for g in GOOD]
    path = tmp_path / "magicoder.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(lines(renamed))
    settings = {"path": str(path), "instruction_field": "problem", "response_field": "solution"}
    code, rows, funnel = external(tmp_path, settings)
    assert code == 0
    assert [r["instruction"] for r in rows] == [g["instruction"] for g in GOOD]
    assert [r["response"] for r in rows] == [g["response"] for g in GOOD]
    assert funnel["steps"][0]["extra"] == {
        "instruction_field": "problem",
        "response_field": "solution",
    }
    # with the default field names nothing in this file is usable
    code, rows, funnel = external(tmp_path, {"path": str(path)}, name="defaults")
    assert code == 0 and rows == []
    assert funnel["steps"][0]["removed"] == {"missing_instruction": 3}


def test_a_json_array_file(tmp_path):
    path = tmp_path / "evol.json"
    path.write_text(
        json.dumps([{"instruction": g["instruction"], "output": g["response"]} for g in GOOD])
    )
    code, rows, _ = external(tmp_path, {"path": str(path), "response_field": "output"})
    assert code == 0 and len(rows) == 3


def test_bad_rows_are_dropped_and_counted(tmp_path):
    bad = [
        {"response": "x"},
        {"instruction": None, "response": "x"},
        {"instruction": "   ", "response": "x"},
        {"instruction": 7, "response": "x"},
        {"instruction": "Fine.", "response": ""},
        {"instruction": "Fine.", "response": ["a list"]},
        {"instruction": "Fine."},
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_text(lines([GOOD[0], *bad, GOOD[1]]))
    code, rows, funnel = external(tmp_path, {"path": str(path)})
    assert code == 0
    assert [r["id"] for r in rows] == ["0", "8"]  # ids are the rows' places in the source
    fields = funnel["steps"][0]
    assert (fields["step"], fields["input"], fields["output"]) == ("fields", 9, 2)
    assert fields["removed"] == {
        "missing_instruction": 2,
        "empty_instruction": 1,
        "non_string_instruction": 1,
        "empty_response": 1,
        "non_string_response": 1,
        "missing_response": 1,
    }
    assert funnel["final"] == 2
    # training reads these rows as it reads selected pairs
    assert all(isinstance(r["instruction"], str) and isinstance(r["response"], str) for r in rows)


def test_max_rows_caps_the_written_rows(tmp_path):
    path = tmp_path / "oss.jsonl"
    path.write_text(lines([{"response": "x"}, *GOOD]))
    code, rows, funnel = external(tmp_path, {"path": str(path), "max_rows": 2})
    assert code == 0 and [r["id"] for r in rows] == ["1", "2"]
    assert [s["step"] for s in funnel["steps"]] == ["fields", "max_rows"]
    assert funnel["steps"][1]["removed"] == {"over_max_rows": 1}
    assert funnel["final"] == 2
    build_funnel([StepCounts.from_dict(s) for s in funnel["steps"]])  # chains


def test_invalid_json_names_the_file_and_line(tmp_path, capsys):
    path = tmp_path / "broken.jsonl"
    path.write_text(lines(GOOD[:2]) + '{"instruction": "cut off\n' + lines(GOOD[2:]))
    code, _, _ = external(tmp_path, {"path": str(path)})
    assert code == 2
    assert f"{path}:3: not valid JSON" in one_line_error(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.jsonl"]  # nothing written
    path.write_text(lines(GOOD[:1]) + "[1, 2]\n")
    code, _, _ = external(tmp_path, {"path": str(path)})
    assert code == 2
    assert f"{path}:2: expected a JSON object" in one_line_error(capsys)


def test_a_missing_file_is_a_one_line_error(tmp_path, capsys):
    code, _, _ = external(tmp_path, {"path": str(tmp_path / "absent.jsonl")})
    assert code == 2
    assert "absent.jsonl" in one_line_error(capsys)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, "external.path and external.hub: give exactly one"),
        (
            {"path": "a.jsonl", "hub": "org/data"},
            "external.path and external.hub: give exactly one",
        ),
        ({"hub": "org/data", "seed": 1}, "external: Additional properties are not allowed ('seed'"),
        ({"path": "a.csv"}, "external.path: 'a.csv' must end with"),
        ({"hub": "org/data", "max_rows": 0}, "external.max_rows"),
        ({"hub": "org/data", "max_rows": True}, "external.max_rows"),
        ({"hub": "org/data", "split": ""}, "external.split"),
        ({"hub": "org/data", "instruction_field": 3}, "external.instruction_field"),
        ({"path": "a.jsonl", "revision": "main"}, "external.revision"),
    ],
)
def test_settings_are_checked(tmp_path, capsys, settings, message):
    code, _, _ = external(tmp_path, settings)
    assert code == 2
    assert message in one_line_error(capsys)


def test_a_hub_dataset_is_loaded_by_id_revision_and_split(tmp_path, monkeypatch, capsys):
    import datasets

    calls = []

    def fake_load_dataset(name, revision=None, split=None):
        calls.append((name, revision, split))
        if name == "org/absent":
            raise FileNotFoundError(f"Dataset '{name}' doesn't exist on the Hub")
        return [{"problem": g["instruction"], "solution": g["response"]} for g in GOOD]

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    settings = {
        "hub": "org/oss-instruct",
        "revision": "abc123",
        "split": "train",
        "instruction_field": "problem",
        "response_field": "solution",
    }
    code, rows, funnel = external(tmp_path, settings)
    assert code == 0 and calls == [("org/oss-instruct", "abc123", "train")]
    assert len(rows) == 3 and rows[0]["source"] == "hf:org/oss-instruct@abc123:train"
    assert funnel["source"] == "hf:org/oss-instruct@abc123:train"
    code, _, _ = external(tmp_path, {"hub": "org/absent"}, name="absent")
    assert code == 2
    assert "org/absent split train: cannot be loaded" in one_line_error(capsys)
