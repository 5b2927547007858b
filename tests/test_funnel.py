import pytest
from selfcodealign.funnel import StepCounts, build_funnel, merge_counts


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
