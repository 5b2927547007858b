import json

import pytest
from selfcodealign.config import validate_section
from selfcodealign.seeds.sources import iter_shard_files, plan_shards, stdlib_dir


def source(**settings):
    return validate_section(settings, "seeds", "source")


def test_stdlib_shards_cover_every_file_once_without_site_packages():
    specs = plan_shards(source(kind="stdlib"), 3)
    files = [f for spec in specs for f in spec["files"]]
    assert len(files) == len(set(files)) > 500
    assert not any("site-packages" in f or "/test/" in f for f in files)
    assert all(f.startswith(str(stdlib_dir())) for f in files)
    # round-robin: shard sizes differ by at most one
    sizes = [len(spec["files"]) for spec in specs]
    assert max(sizes) - min(sizes) <= 1


def test_local_source_reads_files_and_reports_unreadable_ones(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("x = 1\n")
    (tmp_path / "b.py").write_text("y = 2\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "skip.py").write_text("z = 3\n")
    (tmp_path / "notes.txt").write_text("not python")
    (tmp_path / "broken.py").symlink_to(tmp_path / "missing.py")
    [spec] = plan_shards(source(kind="local", path=str(tmp_path)), 1)
    files = {f.path: f for f in iter_shard_files(spec)}
    assert set(files) == {"b.py", "broken.py", "pkg/a.py"}
    assert files["b.py"].data == b"y = 2\n"
    assert files["broken.py"].data is None and "FileNotFoundError" in files["broken.py"].error


def test_max_rows_limits_the_local_source(tmp_path):
    for i in range(10):
        (tmp_path / f"m{i}.py").write_text("")
    specs = plan_shards(source(kind="local", path=str(tmp_path), max_rows=4), 2)
    assert sum(len(s["files"]) for s in specs) == 4


def test_local_source_needs_a_directory(tmp_path):
    with pytest.raises(ValueError, match="path must name a directory"):
        plan_shards(source(kind="local"), 1)
    with pytest.raises(ValueError, match="is not a directory"):
        plan_shards(source(kind="local", path=str(tmp_path / "nope")), 1)


def test_hf_source_streams_and_shards_a_dataset(tmp_path):
    """The real `datasets` streaming path, on a local parquet dataset of four files."""
    import pandas as pd

    data = tmp_path / "ds" / "data" / "python"
    data.mkdir(parents=True)
    for part in range(4):
        rows = [
            {
                "content": f"def f{part}_{i}(x):\n    return x\n",
                "max_stars_repo_path": f"r{part}/{i}.py",
            }
            for i in range(5)
        ]
        pd.DataFrame(rows).to_parquet(data / f"part-{part}.parquet")
    settings = source(kind="hf", dataset=str(tmp_path / "ds"), data_dir="data/python", stage=False)
    specs = plan_shards(settings, 2)
    seen = [f.path for spec in specs for f in iter_shard_files(spec)]
    assert len(seen) == len(set(seen)) == 20
    limited = plan_shards({**settings, "max_rows": 6}, 2)
    assert sum(1 for spec in limited for _ in iter_shard_files(spec)) == 6
    with pytest.raises(ValueError, match="must not exceed"):
        list(iter_shard_files(plan_shards(settings, 5)[0]))


def _parquet_dataset(root, parts: int = 4, rows: int = 5):
    import pandas as pd

    data = root / "data" / "python"
    data.mkdir(parents=True)
    for part in range(parts):
        frame = [
            {
                "content": f'def f{part}_{i}(x):\n    """Twice x."""\n    return 2 * x\n',
                "max_stars_repo_path": f"r{part}/{i}.py",
            }
            for i in range(rows)
        ]
        pd.DataFrame(frame).to_parquet(data / f"part-{part}.parquet")
    (root / "README.md").write_text("not data")
    return root


def test_hub_dataset_is_staged_by_the_plan_and_read_offline(tmp_path, monkeypatch):
    """The plan (a local rule) downloads the parquet files at the resolved commit; extraction
    then reads them with no Hub. huggingface_hub's calls stand in for the unreachable Hub and
    copy a real parquet dataset, as a download would."""
    import shutil

    import huggingface_hub
    from selfcodealign.cli import main
    from selfcodealign.seeds.sources import shard_size

    hub = _parquet_dataset(tmp_path / "hub")
    asked = []

    class Info:
        sha = "c0ffee" * 6 + "c0ff"

    def dataset_info(self, repo_id, revision=None):
        asked.append(("info", repo_id, revision))
        return Info()

    def list_repo_files(self, repo_id, repo_type=None, revision=None):
        asked.append(("list", repo_id, repo_type, revision))
        return sorted(str(p.relative_to(hub)) for p in hub.rglob("*") if p.is_file())

    def snapshot_download(
        repo_id, repo_type=None, revision=None, allow_patterns=(), local_dir=None
    ):
        asked.append(("download", repo_id, repo_type, revision, sorted(allow_patterns)))
        for name in allow_patterns:
            target = tmp_path.joinpath(local_dir, name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(hub / name, target)
        return str(local_dir)

    monkeypatch.setattr(huggingface_hub.HfApi, "dataset_info", dataset_info)
    monkeypatch.setattr(huggingface_hub.HfApi, "list_repo_files", list_repo_files)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)

    settings = source(kind="hf", dataset="org/stack", data_dir="data/python", revision="v1")
    plan = tmp_path / "source"
    args = ["seeds", "plan", "--settings", json.dumps(settings), "--shards", "2"]
    assert main([*args, "--outdir", str(plan)]) == 0
    parts = [f"data/python/part-{i}.parquet" for i in range(4)]
    assert asked == [
        ("info", "org/stack", "v1"),
        ("list", "org/stack", "dataset", Info.sha),
        ("download", "org/stack", "dataset", Info.sha, parts),
    ]
    specs = [json.loads((plan / f"shard-{i}.json").read_text()) for i in range(2)]
    assert all(spec["kind"] == "parquet" and spec["commit"] == Info.sha for spec in specs)
    assert all(f.startswith(str(plan / "files")) for spec in specs for f in spec["files"])

    limited = plan_shards({**settings, "max_rows": 6}, 2, tmp_path / "again")
    assert sum(1 for spec in limited for _ in iter_shard_files(spec)) == 6

    # Extraction, with the Hub gone: every row of the staged files, once.
    monkeypatch.setattr(huggingface_hub, "snapshot_download", None)
    seen = [f.path for spec in specs for f in iter_shard_files(spec)]
    assert sorted(seen) == sorted(f"r{p}/{i}.py" for p in range(4) for i in range(5))
    assert [shard_size(spec) for spec in specs] == [10, 10]
    out = tmp_path / "extracted.jsonl"
    counts = tmp_path / "counts.json"
    extract = ["seeds", "extract", "--settings", "{}", "--shard", str(plan / "shard-0.json")]
    assert main([*extract, "--output", str(out), "--counts", str(counts)]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 10 and {r["source"] for r in records} == {"hf:org/stack"}
