"""The config schema: defaults, clear errors, and the same errors from Snakemake itself."""

import subprocess
import sys

import pytest
import yaml
from conftest import REPO, snakemake_env
from selfcodealign.config import ConfigError, validate_config


def load(name):
    return yaml.safe_load((REPO / "config" / name).read_text())


def test_shipped_configs_are_valid_and_get_defaults():
    paper = validate_config(load("config.yaml"))
    assert paper["seeds"]["dedup"]["threshold"] == 0.5
    assert paper["seeds"]["typecheck"]["batch_size"] == 250
    assert paper["seeds"]["source"]["dataset"] == "bigcode/the-stack-dedup"
    demo = validate_config(load("demo.yaml"))
    # keys the demo leaves out take the schema's defaults
    assert demo["seeds"]["filters"]["max_lines"] == 150
    assert demo["seeds"]["filters"]["banned_imports"][:2] == ["argparse", "os"]
    assert demo["seed"] == 3407


def test_unknown_key_names_the_key_and_the_allowed_ones():
    config = {**load("demo.yaml"), "seeds": {"shard": 4}}
    with pytest.raises(ConfigError) as error:
        validate_config(config)
    message = str(error.value)
    assert "config key seeds" in message and "'shard' was unexpected" in message
    assert "allowed keys:" in message and "shards" in message


def test_bad_enum_names_the_key_and_the_allowed_values():
    config = load("demo.yaml")
    config["seeds"]["source"]["kind"] = "github"
    with pytest.raises(ConfigError) as error:
        validate_config(config)
    assert str(error.value) == (
        "config key seeds.source.kind: 'github' is not allowed; "
        "allowed values: 'hf', 'local', 'stdlib'"
    )


def test_a_benchmark_without_a_pinned_hash_is_refused():
    config = load("demo.yaml")
    config["evaluation"]["datasets"]["humaneval"] = {"version": "v0.1.10", "path": "x.jsonl"}
    with pytest.raises(ConfigError) as error:
        validate_config(config)
    assert str(error.value) == "config key evaluation.datasets.humaneval: needs md5 or sha256"


def test_bad_type_names_the_key():
    config = load("demo.yaml")
    config["seeds"]["dedup"] = {"threshold": 1.5}
    with pytest.raises(ConfigError, match=r"config key seeds\.dedup\.threshold: 1\.5 is greater"):
        validate_config(config)


def test_snakemake_refuses_a_bad_config_naming_key_and_values(tmp_path):
    config = load("demo.yaml")
    config["seeds"]["source"]["kind"] = "github"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--configfile", str(bad), "--cores", "1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=snakemake_env(),
    )
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert "seeds.source.kind" in output
    assert "'hf', 'local', 'stdlib'" in output


def test_check_config_command(tmp_path):
    run = [sys.executable, "-m", "selfcodealign", "check-config"]
    ok = subprocess.run([*run, str(REPO / "config" / "demo.yaml")], capture_output=True, text=True)
    assert ok.returncode == 0 and "valid" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("experiment: x\nmodel: {name: m, backend: llama}\n")
    proc = subprocess.run([*run, str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "config key model.backend: 'llama' is not allowed" in proc.stderr
