"""Resumable shard runs (killed for real, then rerun) and the gather step's counts."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from selfcodealign.funnel import StepCounts
from selfcodealign.instruct.commands import gather_rows
from selfcodealign.instruct.runner import shard_rows
from selfcodealign.jsonl import read_jsonl
from selfcodealign.resumable import ResumableOutput


def _seeds(path: Path, n: int) -> Path:
    rows = [
        {"id": f"s{i}", "seed": f'def f{i}(x):\n    """Add {i}."""\n    return x + {i}\n'}
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _command(model: Path, source: Path, output: Path, temperature: float = 0.7) -> list[str]:
    settings = {"shots": 2, "temperature": temperature, "max_tokens": 48}
    return [
        sys.executable, "-m", "selfcodealign", "instruct", "run", "--mode", "s2c",
        "--input", str(source), "--settings", json.dumps(settings),
        "--model", json.dumps({"name": str(model), "backend": "transformers", "dtype": "float32"}),
        "--batch-size", "1", "--output", str(output),
    ]  # fmt: skip


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_shard_rows_split_by_global_index():
    rows = [{"i": i} for i in range(10)]
    assert [i for i, _ in shard_rows(rows, 1, 3, None)] == [1, 4, 7]
    assert [i for i, _ in shard_rows(rows, 0, 3, 5)] == [0, 3]


@pytest.mark.slow
def test_a_killed_run_resumes_without_losing_or_repeating_rows(tiny_model, tmp_path):
    source = _seeds(tmp_path / "seeds.jsonl", 30)
    reference = tmp_path / "reference.jsonl"
    subprocess.run(_command(tiny_model, source, reference), check=True, capture_output=True)

    output = tmp_path / "resumed.jsonl"
    partial = tmp_path / "resumed.jsonl.partial"
    job = subprocess.Popen(_command(tiny_model, source, output), stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if partial.exists() and partial.read_text().count("\n") >= 6:  # fingerprint + 5 rows
            break
        time.sleep(0.05)
    job.send_signal(signal.SIGKILL)  # as a scheduler does at the time limit
    job.wait()
    assert not output.exists()
    done = partial.read_text().count("\n") - 1
    assert 5 <= done < 30
    # a torn last line, as when the job dies mid-write, is cut on resume
    with open(partial, "a") as handle:
        handle.write('{"row": 29, "id": "s2')

    rerun = subprocess.run(_command(tiny_model, source, output), capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"{done} rows already done" in rerun.stderr
    assert not partial.exists()
    resumed, expected = _rows(output), _rows(reference)
    assert [r["row"] for r in resumed] == list(range(30))
    # per-row seeds: the resumed run writes exactly what an uninterrupted run writes
    assert resumed == expected


@pytest.mark.slow
def test_a_partial_run_of_other_settings_is_not_resumed(tiny_model, tmp_path):
    source = _seeds(tmp_path / "seeds.jsonl", 4)
    output = tmp_path / "out.jsonl"
    partial = tmp_path / "out.jsonl.partial"
    partial.write_text(json.dumps({"fingerprint": "other settings"}) + "\n" + '{"row": 0}\n')
    run = subprocess.run(_command(tiny_model, source, output, 0.2), capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "already done" not in run.stderr
    assert [r["row"] for r in _rows(output)] == [0, 1, 2, 3]


def _write(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_gather_merges_shards_in_row_order_and_counts_rejections(tmp_path):
    shard0 = _write(
        tmp_path / "0.jsonl",
        [
            {"row": 0, "id": "a", "status": "ok", "concepts": ["x"], "raw": "x"},
            {"row": 2, "id": "c", "status": "truncated", "raw": "..."},
        ],
    )
    shard1 = _write(
        tmp_path / "1.jsonl",
        [
            {"row": 1, "id": "b", "status": "ok", "concepts": ["y"], "raw": "y"},
            {"row": 3, "id": "d", "status": "empty_concepts", "raw": ""},
        ],
    )
    counts = StepCounts("concepts")
    rows = list(gather_rows("s2c", [shard0, shard1], counts))
    assert rows == [{"id": "a", "concepts": ["x"]}, {"id": "b", "concepts": ["y"]}]
    assert (counts.input, counts.output) == (4, 2)
    assert dict(counts.removed) == {"truncated": 1, "empty_concepts": 1}


def test_gather_flattens_response_samples(tmp_path):
    samples = [
        {"sample": 0, "status": "ok", "response": "r0", "tests": "assert 1"},
        {"sample": 1, "status": "truncated"},
        {"sample": 2, "status": "no_tests_section"},
        {"sample": 3, "status": "ok", "response": "r3", "tests": "assert 3"},
    ]
    shard = _write(
        tmp_path / "0.jsonl",
        [{"row": 0, "id": "seed1", "instruction": "Do.", "samples": samples}],
    )
    counts = StepCounts("responses")
    rows = list(gather_rows("i2r", [shard], counts))
    assert [r["id"] for r in rows] == ["seed1-0", "seed1-3"]
    assert rows[1] == {
        "id": "seed1-3",
        "instruction": "Do.",
        "instruction_id": "seed1",
        "sample": 3,
        "response": "r3",
        "tests": "assert 3",
    }
    assert (counts.input, counts.output) == (4, 2)
    assert counts.extra["instructions"] == 1
    assert dict(counts.removed) == {"truncated": 1, "no_tests_section": 1}


def test_rows_written_out_of_order_come_out_sorted_and_a_repeat_is_refused(tmp_path):
    sink = ResumableOutput(tmp_path / "out.jsonl", "f")
    for row in (2, 0, 1):
        sink.write({"row": row})
    sink.flush()
    again = ResumableOutput(tmp_path / "out.jsonl", "f")
    assert sorted(again.done) == [0, 1, 2]
    assert again.finish() == 3
    assert [r["row"] for r in read_jsonl(tmp_path / "out.jsonl")] == [0, 1, 2]
    twice = ResumableOutput(tmp_path / "twice.jsonl", "f")
    for row in (1, 0, 1):
        twice.write({"row": row})
    with pytest.raises(RuntimeError, match="row 1 written twice"):
        twice.finish()


def test_distinct_shots_give_each_sample_its_own_prompt(tiny_model, tmp_path):
    """I->R with distinct shots: n prompts of one sample per row, each drawing its own example,
    each sample equal to a one-sample run of that prompt's seed, in any batching."""
    from selfcodealign.generation import SamplingSettings
    from selfcodealign.generation.hf import TransformersBackend
    from selfcodealign.instruct.pool import load_pool
    from selfcodealign.instruct.prompts import build_prompt, stop_after, stop_strings
    from selfcodealign.instruct.runner import row_seed, run_shard

    backend = TransformersBackend(str(tiny_model), dtype="float32")
    rows = [(i, {"id": f"r{i}", "instruction": f"Write `inc{i}(x)` returning x + {i}."})
            for i in range(3)]  # fmt: skip
    sampling = {"n": 3, "temperature": 0.8, "top_p": 1.0, "max_tokens": 12}

    def run(name: str, batch_size: int, distinct: bool) -> list[dict]:
        output = tmp_path / f"{name}.jsonl"
        run_shard("i2r", rows, backend, pool=load_pool(), shots=1, sampling=sampling, seed=7,
                  batch_size=batch_size, output=output, fingerprint_parts={},
                  distinct_shots=distinct)  # fmt: skip
        return _rows(output)

    one, four = run("b1", 1, True), run("b4", 4, True)
    assert one == four  # batching changes nothing
    for record in one:
        samples = record["samples"]
        assert [s["sample"] for s in samples] == [0, 1, 2]
        index = record["row"]
        for k, sample in enumerate(samples):
            prompt = build_prompt("i2r", rows[index][1], load_pool(), 1, row_seed(7, index, k, 3))
            assert sample["prompt_examples"] == list(prompt.example_ids)
            if (index, k) == (1, 2):  # the same prompt and seed alone give the same answer
                settings = SamplingSettings.from_config(
                    {**sampling, "n": 1},
                    stop=stop_strings("i2r"),
                    seed=7,
                    stop_after=stop_after("i2r"),
                )
                ((alone,),) = backend.generate([prompt.text], settings, [row_seed(7, 1, 2, 3)])
                assert alone.text == sample["raw"]
    drawn = {tuple(s["prompt_examples"]) for r in one for s in r["samples"]}
    assert len(drawn) > 3  # not one example per row
    shared = run("shared", 4, False)
    assert all("prompt_examples" not in s for r in shared for s in r["samples"])
    assert [len(r["samples"]) for r in shared] == [3, 3, 3]
