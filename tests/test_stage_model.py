"""Hub models are staged once on the submitting node, at the commit their revision resolves to.

The Hub is unreachable from the test machines: huggingface_hub's two calls (resolving the
revision, downloading the snapshot) are replaced by stand-ins that record what they were asked
and write files as a download would. What is tested is the staging around them: the pinned
commit, the atomic rename, the record, and the workflow's DAG (a local job, whose directory
every job using the model takes as input).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import huggingface_hub
import pytest
from conftest import REPO, snakemake_env
from selfcodealign.cli import main
from test_envs import _local_rules as local_rules

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def hub(monkeypatch):
    calls = []

    class Info:
        sha = COMMIT

    def model_info(self, repo_id, revision=None):
        calls.append(("info", repo_id, revision))
        return Info()

    def snapshot_download(repo_id, revision=None, local_dir=None):
        calls.append(("download", repo_id, revision))
        local = Path(local_dir)
        (local / "config.json").write_text('{"model_type": "llama"}')
        (local / ".cache" / "huggingface").mkdir(parents=True)
        if repo_id == "org/broken":
            raise OSError("connection reset")
        return str(local)

    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", model_info)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    return calls


def test_stages_at_the_resolved_commit(hub, tmp_path: Path):
    output = tmp_path / "base-models" / "big"
    args = ["stage-model", "--id", "org/big", "--revision", "v1.0", "--output", str(output)]
    assert main(args) == 0
    assert hub == [("info", "org/big", "v1.0"), ("download", "org/big", COMMIT)]
    record = json.loads((output / "staged.json").read_text())
    assert record == {"id": "org/big", "revision": "v1.0", "commit": COMMIT}
    assert (output / "config.json").exists() and not (output / ".cache").exists()
    assert [p.name for p in output.parent.iterdir()] == ["big"]  # no temporary left


def test_unpinned_revision_is_main_resolved(hub, tmp_path: Path):
    assert main(["stage-model", "--id", "org/big", "--output", str(tmp_path / "m")]) == 0
    assert hub[0] == ("info", "org/big", "main")
    assert json.loads((tmp_path / "m" / "staged.json").read_text())["commit"] == COMMIT


def test_a_failed_download_leaves_nothing_that_looks_staged(hub, tmp_path: Path):
    output = tmp_path / "base-models" / "broken"
    with pytest.raises(OSError, match="connection reset"):
        main(["stage-model", "--id", "org/broken", "--output", str(output)])
    assert not output.exists()
    assert list(output.parent.iterdir()) == []


def test_hub_models_are_staged_by_a_local_job_that_their_users_wait_for():
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--configfile", "config/paper/table8.yaml"],
        cwd=REPO,
        env=snakemake_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = proc.stdout
    staged = sorted(
        set(re.findall(r"rule stage_model:\n    output: results/base-models/(\S+)", text))
    )
    assert len(staged) == 5, staged  # the paper's five base models
    # every generation, training and evaluation job of a model waits for its staged directory
    for model in staged:
        assert re.search(
            rf"rule instruct_shard:\n    input: [^\n]*results/base-models/{model}", text
        )
    assert "stage_model" in local_rules()
