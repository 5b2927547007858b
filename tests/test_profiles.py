"""The profiles as a user types them: the SLURM profile installed by name, and the workflow
profile that Snakemake loads by itself."""

from __future__ import annotations

import subprocess
import sys
import time

from conftest import REPO, copy_workflow, snakemake_env


def test_slurm_profile_installs_by_name_and_plans_the_paper_config(tmp_path):
    home = tmp_path / "home"
    env = {**snakemake_env(), "HOME": str(home)}
    made = subprocess.run(["make", "-s", "install-profile"], cwd=REPO, env=env,
                          capture_output=True, text=True)  # fmt: skip
    assert made.returncode == 0, made.stderr
    installed = home / ".config" / "snakemake" / "slurm" / "config.yaml"
    assert installed.read_text() == (REPO / "profiles" / "slurm" / "config.yaml").read_text()
    # installing again leaves a user's edits alone
    installed.write_text(installed.read_text() + "# my account\n")
    again = subprocess.run(["make", "-s", "install-profile"], cwd=REPO, env=env,
                           capture_output=True, text=True)  # fmt: skip
    assert "left as it is" in again.stdout and installed.read_text().endswith("# my account\n")

    (tmp_path / "workflow").mkdir()
    workdir = copy_workflow(tmp_path / "workflow")
    started = time.monotonic()
    planned = subprocess.run(
        [sys.executable, "-m", "snakemake", "--profile", "slurm", "-n",
         "--configfile", "config/paper/table8.yaml"],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    seconds = time.monotonic() - started
    output = planned.stdout + planned.stderr
    assert planned.returncode == 0, output[-3000:]
    assert "Using profiles slurm and workflow specific profile profiles/default" in output
    assert "matrix_report" in output and "finetune" in output
    print(f"snakemake --profile slurm -n on table8: {seconds:.1f} s")


def test_the_workflow_profile_is_loaded_without_asking(tmp_path):
    (tmp_path / "workflow").mkdir()
    workdir = copy_workflow(tmp_path / "workflow")
    planned = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "1",
         "--configfile", "config/demo.yaml"],
        cwd=workdir, env=snakemake_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    output = planned.stdout + planned.stderr
    assert planned.returncode == 0, output[-3000:]
    assert "Using workflow specific profile profiles/default" in output
