"""Which Python runs a job's ``-m selfcodealign``: the interpreter its rule's software declares.

With ``--sdm conda`` or ``--sdm apptainer`` a job runs the ``python`` of its rule's conda env
or image, both of which install the package. Without either, jobs run the interpreter that runs
Snakemake, through a shim first on their PATH: a bare ``python`` would be whatever comes first
on the job's PATH (on a cluster, often the system's), which lacks the package's dependencies.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import sys
from collections.abc import Iterable
from pathlib import Path

# Deployment methods whose jobs bring their own interpreter with the package installed.
SELF_CONTAINED = {"conda", "apptainer"}
# What every command imports: the package's own dependencies (pyproject.toml).
BASE_MODULES = ("yaml", "jsonschema", "tqdm", "numpy")


def python_shim(directory: str | Path, executable: str = sys.executable) -> str:
    """A directory whose ``python`` runs ``executable``: put first on a job's PATH, it makes the
    rules' ``python -m selfcodealign`` this interpreter. A script rather than a symlink: a
    symlink to a venv's python would start outside the venv."""
    bin_dir = Path(directory).resolve() / "bin"
    shim = bin_dir / "python"
    text = f'#!/bin/sh\nexec {shlex.quote(executable)} "$@"\n'
    if not shim.is_file() or shim.read_text() != text:
        bin_dir.mkdir(parents=True, exist_ok=True)
        temporary = shim.with_name(f".python.{os.getpid()}")
        temporary.write_text(text)
        temporary.chmod(0o755)
        temporary.replace(shim)  # atomic: jobs starting meanwhile see the old or the new shim
    return str(bin_dir)


def interpreter_problem(
    deployment_methods: Iterable[str],
    executable: str = sys.executable,
    modules: Iterable[str] = BASE_MODULES,
) -> str | None:
    """One line naming what this interpreter lacks for running jobs itself, or None."""
    if SELF_CONTAINED & set(deployment_methods):
        return None
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if not missing:
        return None
    return (
        f"jobs run {executable}, which lacks {', '.join(missing)}: run snakemake from the"
        " workflow's environment (make install; .venv/bin/snakemake), or give"
        " --sdm conda or --sdm apptainer"
    )


def prepend(name: str, entry: str) -> None:
    os.environ[name] = os.pathsep.join(filter(None, [entry, os.environ.get(name)]))


def set_job_interpreter(
    deployment_methods: Iterable[str],
    package_dir: str | Path,
    shim_dir: str | Path = ".snakemake/interpreter",
) -> None:
    """Jobs inherit this environment. The shim comes first on their PATH whatever the mode: a
    conda env's activation and an image's own PATH come before it, and a rule with neither
    (a download on the host) runs this interpreter. Without conda or a container, jobs also
    run this checkout's package, whichever copy the interpreter holds."""
    prepend("PATH", python_shim(shim_dir))
    if not SELF_CONTAINED & set(deployment_methods):
        prepend("PYTHONPATH", str(package_dir))
