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
    settings = source(kind="hf", dataset=str(tmp_path / "ds"), data_dir="data/python")
    specs = plan_shards(settings, 2)
    seen = [f.path for spec in specs for f in iter_shard_files(spec)]
    assert len(seen) == len(set(seen)) == 20
    limited = plan_shards({**settings, "max_rows": 6}, 2)
    assert sum(1 for spec in limited for _ in iter_shard_files(spec)) == 6
    with pytest.raises(ValueError, match="must not exceed"):
        list(iter_shard_files(plan_shards(settings, 5)[0]))
