"""Jobs run the interpreter their rule declares, whatever `python` the job's PATH finds first."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import copy_workflow
from selfcodealign.interpreter import interpreter_problem, python_shim

# Directories with system programs but none of this interpreter's: a login shell on a cluster
# where the user has not activated the workflow's environment.
BARE_PATH = "/usr/bin:/bin"


def test_shim_runs_this_interpreter_inside_its_venv(tmp_path: Path):
    bin_dir = python_shim(tmp_path / "shim")
    result = subprocess.run(
        [str(Path(bin_dir) / "python"), "-c", "import sys, tqdm; print(sys.prefix)"],
        capture_output=True,
        text=True,
        env={"PATH": BARE_PATH},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == sys.prefix


def test_shim_is_rewritten_for_another_interpreter(tmp_path: Path):
    python_shim(tmp_path, executable="/opt/old/bin/python")
    python_shim(tmp_path, executable=sys.executable)
    assert "/opt/old" not in (tmp_path / "bin" / "python").read_text()


def test_problem_names_missing_modules_and_interpreter():
    problem = interpreter_problem([], modules=["json", "no_such_module_here"])
    assert problem is not None
    assert "no_such_module_here" in problem and sys.executable in problem
    assert "json" not in problem.split("lacks")[1]


def test_envs_and_images_bring_their_own_interpreter():
    modules = ["no_such_module_here"]
    assert interpreter_problem(["conda"], modules=modules) is None
    assert interpreter_problem(["apptainer"], modules=modules) is None
    assert interpreter_problem(["env-modules"], modules=modules) is not None


def test_job_runs_snakemakes_interpreter_without_an_activated_venv(tmp_path: Path):
    """`.venv/bin/snakemake ...` from a shell whose PATH lacks the venv: the job's `python` is
    the venv's (before the shim, it was a missing `python` or the system's, without tqdm)."""
    workdir = copy_workflow(tmp_path)
    target = "results/seeds/stdlib/decontamination/benchmark_texts.json"
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["PATH"] = BARE_PATH
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--configfile", "config/demo.yaml",
         "--cores", "1", target],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    log = workdir / "results/logs/seeds/stdlib/benchmark_texts.log"
    details = result.stderr[-4000:] + (log.read_text() if log.exists() else "")
    assert result.returncode == 0, details
    assert (workdir / target).stat().st_size > 0


def test_every_mode_puts_the_shim_first_and_only_no_mode_sets_pythonpath(tmp_path, monkeypatch):
    from selfcodealign.interpreter import set_job_interpreter

    for methods, sets_pythonpath in ((["apptainer"], False), (["conda"], False), ([], True)):
        monkeypatch.setenv("PATH", BARE_PATH)
        monkeypatch.delenv("PYTHONPATH", raising=False)
        set_job_interpreter(methods, "/checkout/workflow", tmp_path / "shim")
        # a rule without env or image (a download on the host) still finds this interpreter
        assert os.environ["PATH"].split(os.pathsep)[0] == str(tmp_path / "shim" / "bin")
        assert ("PYTHONPATH" in os.environ) is sets_pythonpath, methods
