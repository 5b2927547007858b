"""The built wheel carries every data file, and an installed (not editable) package reads them.

Conda envs and container images install the package; a data file read from outside it (as the
prompts, schema and accelerate configs once were) is missing there. This test builds the wheel,
installs it into a fresh virtual environment and runs the package's own loaders in it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCE_PACKAGE = REPO / "workflow" / "selfcodealign"


def _source_data_files() -> list[str]:
    """Data files in the checkout, found by file type rather than by the package's own list."""
    files = [p for p in SOURCE_PACKAGE.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    data = [
        p for p in files if p.suffix in {".yaml", ".yml", ".json", ".txt"} or p.name == "py.typed"
    ]
    return sorted(p.relative_to(SOURCE_PACKAGE).as_posix() for p in data)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    # Built from a clean copy: a checkout's build/ and egg-info would fill in missing files.
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(
        REPO / "workflow",
        source / "workflow",
        ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"),
    )
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(out),
            str(source),
        ],
        check=True,
        timeout=600,
    )
    (built,) = out.glob("selfcodealign-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(tmp_path_factory, wheel: Path) -> Path:
    """A fresh venv with the wheel installed (its dependencies from this interpreter's site)."""
    env = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=False).create(env)
    python = env / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    return python


def test_wheel_holds_every_data_file(wheel: Path):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    missing = [f for f in _source_data_files() if f"selfcodealign/{f}" not in names]
    assert not missing, f"data files missing from {wheel.name}: {missing}"


def test_installed_package_reads_its_data(installed: Path):
    # The dependencies come from this interpreter's site-packages, added after the venv's own:
    # a .pth there is not processed, so the checkout's editable install stays out of reach.
    deps = next(p for p in sys.path if p.endswith("site-packages"))
    demo = str(REPO / "config" / "demo.yaml")
    script = textwrap.dedent(
        f"""
        import json, sys
        sys.path.append({deps!r})
        import selfcodealign
        from selfcodealign import config, package_data
        from selfcodealign.instruct.pool import load_pool
        from selfcodealign.seeds.judge import load_judge_prompt
        from selfcodealign.train.launch import accelerate_config
        from selfcodealign.report.paper import load_paper_numbers
        demo = config.load_config_file({demo!r})
        print(json.dumps({{
            "package": selfcodealign.__file__,
            "files": [p.relative_to(package_data.PACKAGE_DIR).as_posix()
                      for p in package_data.data_files()],
            "pool": len(load_pool()),
            "judge_keys": sorted(load_judge_prompt()),
            "accelerate": [accelerate_config(n).name for n in ("ddp", "fsdp", "zero3")],
            "paper_tables": len(load_paper_numbers()),
            "demo_models": sorted(config.validate_config(demo)["models"]),
        }}))
        """
    )
    result = subprocess.run(
        [str(installed), "-I", "-c", script], capture_output=True, text=True, cwd="/"
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    venv_dir = installed.parent.parent
    assert Path(report["package"]).is_relative_to(venv_dir), report["package"]
    assert report["files"] == _source_data_files()
    assert report["pool"] > 0
    assert {"instruction", "question", "examples"} <= set(report["judge_keys"])
    assert report["accelerate"] == ["ddp.yaml", "fsdp.yaml", "zero3.yaml"]
    assert report["paper_tables"] > 0
    assert report["demo_models"], "the schema validated the demo config to no models"
