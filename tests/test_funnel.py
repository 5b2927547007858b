import pytest
from selfcodealign.cli import main
from selfcodealign.funnel import StepCounts, build_funnel, merge_counts
from selfcodealign.jsonl import read_json, read_jsonl, write_jsonl


def test_shards_of_a_step_are_summed(tmp_path):
    first, second = StepCounts("filter"), StepCounts("filter")
    for _ in range(3):
        first.keep()
    first.drop("too_long")
    second.drop("too_long")
    second.drop("banned_word")
    second.extra["calls"] = 2
    first.save(tmp_path / "a.json")
    second.save(tmp_path / "b.json")
    total = merge_counts(
        [StepCounts.load(tmp_path / "a.json"), StepCounts.load(tmp_path / "b.json")]
    )
    assert (total.input, total.output) == (6, 3)
    assert dict(total.removed) == {"too_long": 2, "banned_word": 1}
    assert total.extra == {"calls": 2}


def test_funnel_chains_steps_and_rejects_gaps():
    extract = StepCounts("extract", input=10, output=8)
    filters = StepCounts("filter")
    for _ in range(8):
        filters.keep()
    funnel = build_funnel([extract, filters])
    assert [s["step"] for s in funnel["steps"]] == ["extract", "filter"]
    assert funnel["final"] == 8
    with pytest.raises(ValueError, match="does not chain"):
        build_funnel([extract, StepCounts("filter", input=7, output=7)])


def test_merging_different_steps_is_refused():
    with pytest.raises(ValueError, match="different steps"):
        merge_counts([StepCounts("a"), StepCounts("b")])


# --- seeds gather: the stage's funnel, and the ablations' seed subsample ------------------


def gather_files(tmp_path, seeds=40):
    extract = StepCounts("extract", input=100, output=70)
    dedup = StepCounts("dedup")
    for _ in range(seeds):
        dedup.keep()
    for _ in range(70 - seeds):
        dedup.drop("near_duplicate")
    extract.save(tmp_path / "extract.json")
    dedup.save(tmp_path / "dedup.json")
    rows = [
        {"id": f"s{i}", "seed": f'def f{i}(x):\n    """Doc é."""\n    return x'}
        for i in range(seeds)
    ]
    write_jsonl(tmp_path / "input.jsonl", rows)
    return [tmp_path / "extract.json", tmp_path / "dedup.json"]


def gather(tmp_path, name, *extra):
    counts = gather_files(tmp_path)
    args = ["seeds", "gather", "--input", str(tmp_path / "input.jsonl"), "--counts"]
    args += [*map(str, counts), "--output", str(tmp_path / f"{name}.jsonl")]
    args += ["--funnel", str(tmp_path / f"{name}.funnel.json"), *extra]
    assert main(args) == 0
    rows = list(read_jsonl(tmp_path / f"{name}.jsonl"))
    return rows, read_json(tmp_path / f"{name}.funnel.json")


def test_gather_without_subsample_copies_the_seeds(tmp_path):
    rows, funnel = gather(tmp_path, "seeds")
    written = (tmp_path / "seeds.jsonl").read_bytes()
    assert written == (tmp_path / "input.jsonl").read_bytes()
    assert [s["step"] for s in funnel["steps"]] == ["extract", "dedup"]
    assert funnel["final"] == len(rows) == 40


def test_gather_subsample_keeps_a_seeded_sample_in_order(tmp_path):
    rows, funnel = gather(tmp_path, "seeds", "--subsample", "15")
    every = list(read_jsonl(tmp_path / "input.jsonl"))
    assert len(rows) == 15 == funnel["final"]
    assert [every.index(r) for r in rows] == sorted(every.index(r) for r in rows)
    last = funnel["steps"][-1]
    assert (last["step"], last["input"], last["output"]) == ("subsample", 40, 15)
    assert last["removed"] == {"subsample": 25}
    build_funnel([StepCounts.from_dict(s) for s in funnel["steps"]])  # still chains
    again, _ = gather(tmp_path, "again", "--subsample", "15")
    assert again == rows
    other, _ = gather(tmp_path, "other", "--subsample", "15", "--seed", "1")
    assert len(other) == 15 and other != rows
    # fewer seeds than asked for: all kept, the step still recorded
    everything, funnel = gather(tmp_path, "all", "--subsample", "100")
    assert everything == every
    assert funnel["steps"][-1]["removed"] == {} and funnel["final"] == 40


@pytest.mark.parametrize("size", ["0", "-3", "many"])
def test_gather_subsample_must_be_a_positive_integer(tmp_path, size):
    with pytest.raises(SystemExit) as exit_info:
        gather(tmp_path, "seeds", "--subsample", size)
    assert exit_info.value.code == 2
