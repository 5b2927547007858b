"""The Apptainer definitions, checked without Apptainer (unreachable on the test machines).

Each definition is parsed with spython (Singularity Python's recipe parser); its pins must be
its env file's, its base image pinned to a release, and its %test section a real command of
its family. That section runs here too, in the family's venv (built from the env file as conda
would: make install-envs / install-vllm), as it would run in the image.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from spython.main.parse.parsers import SingularityParser
from test_envs import FAMILIES, VENVS, pins, pip_section

REPO = Path(__file__).resolve().parents[1]
CONTAINERS = REPO / "containers"
PIN = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*(?:\[[\w,]+\])?)==([0-9][^\s\"'\\]*)")


class RawSections(SingularityParser):
    """spython's parser, keeping %post and %test as written (it rewrites %test for Docker)."""

    def _post(self, lines):
        self.raw_post = lines
        super()._post(lines)

    def _test(self, lines):
        self.raw_test = lines
        super()._test(lines)


def parse(family: str) -> RawSections:
    return RawSections(str(CONTAINERS / f"{family}.def"))


def test_one_definition_per_family():
    assert sorted(p.stem for p in CONTAINERS.glob("*.def")) == sorted(FAMILIES)


@pytest.mark.parametrize("family", FAMILIES)
def test_base_image_is_a_pinned_release(family: str):
    recipe = parse(family).recipe["spython-base"]
    image = recipe.fromHeader
    assert re.fullmatch(r"[\w./-]+:\d+\.\d+\.\d+[\w.-]*", image), image


@pytest.mark.parametrize("family", FAMILIES)
def test_pins_equal_the_env_files(family: str):
    parser = parse(family)
    installed = {}
    for line in parser.raw_post:
        for name, version in PIN.findall(line):
            installed[name.lower()] = version
    # Read from the env file's lines with the same pattern, extras kept (pyright[nodejs]).
    expected = {
        name.lower(): version
        for line in pip_section(REPO / "envs" / f"{family}.yaml")
        for name, version in PIN.findall(line)
    }
    # every pinned requirement was read (names without their extras)
    assert {re.sub(r"\[.*\]", "", name) for name in expected} == set(pins(family))
    assert installed == expected


@pytest.mark.parametrize("family", FAMILIES)
def test_image_installs_the_package_and_puts_its_venv_first(family: str):
    parser = parse(family)
    recipe = parser.recipe["spython-base"]
    assert any(line.startswith("workflow ") for line in recipe.files), recipe.files
    assert any(line.rstrip().endswith("/opt/selfcodealign") for line in parser.raw_post)
    assert any("PATH=/opt/venv/bin:$PATH" in line for line in recipe.environ)


@pytest.mark.parametrize("family", FAMILIES)
def test_test_section_runs_the_familys_commands(family: str, tmp_path: Path):
    script = "\n".join(parse(family).raw_test)
    commands = [line for line in script.splitlines() if "selfcodealign" in line]
    assert commands and not any("--help" in line for line in commands), script
    python = VENVS[family] / "bin" / "python"
    assert python.exists(), f"{VENVS[family]} is missing: run `make install-envs install-vllm`"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(PATH=f"{python.parent}:/usr/bin:/bin", TMPDIR=str(tmp_path), HOME=str(tmp_path))
    result = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
