"""The config schema: defaults, clear errors, and the same errors from Snakemake itself."""

import subprocess
import sys

import pytest
import yaml
from conftest import REPO, snakemake_env
from selfcodealign.config import ConfigError, load_config_file, validate_config

PAPER_CONFIGS = sorted((REPO / "config" / "paper").glob("table*.yaml"))


def load(name):
    return yaml.safe_load((REPO / "config" / name).read_text())


def test_shipped_configs_are_valid_and_get_defaults():
    assert [p.stem for p in PAPER_CONFIGS] == ["table1", "table10", "table11", "table8", "table9"]
    for path in PAPER_CONFIGS:
        paper = validate_config(load_config_file(path))
        stack = paper["seedsets"]["stack"]
        assert stack["dedup"]["threshold"] == 0.5
        assert stack["typecheck"]["batch_size"] == 250
        assert stack["source"]["dataset"] == "bigcode/the-stack-dedup"
        assert paper["models"]["cq-7b"]["id"] == "Qwen/CodeQwen1.5-7B"
    demo = validate_config(load("demo.yaml"))
    # keys the demo leaves out take the schema's defaults
    stdlib = demo["seedsets"]["stdlib"]
    assert stdlib["filters"]["max_lines"] == 150
    assert stdlib["filters"]["banned_imports"][:2] == ["argparse", "os"]
    assert demo["seed"] == 3407
    assert demo["trainings"]["smollm2-on-tiny-data"]["recipe"]["warmup_ratio"] == 0.05


def test_entries_shared_by_paper_configs_are_identical():
    """Running several tables in one results/ folder merges their configs: a shared name must
    mean the same entry in each, or one table would silently run another's settings."""
    seen = {}
    for path in PAPER_CONFIGS:
        config = load_config_file(path)
        for registry in ("models", "seedsets", "datasets", "trainings"):
            for name, entry in config.get(registry, {}).items():
                first = seen.setdefault((registry, name), (entry, path.name))
                assert first[0] == entry, f"{registry}.{name}: {first[1]} vs {path.name}"
        assert config["evaluation"] == load_config_file(PAPER_CONFIGS[0])["evaluation"]


def test_unknown_key_names_the_key_and_the_allowed_ones():
    config = load("demo.yaml")
    config["seedsets"]["stdlib"]["shard"] = 4
    with pytest.raises(ConfigError) as error:
        validate_config(config)
    message = str(error.value)
    assert "config key seedsets.stdlib" in message and "'shard' was unexpected" in message
    assert "allowed keys:" in message and "shards" in message


def test_bad_enum_names_the_key_and_the_allowed_values():
    config = load("demo.yaml")
    config["seedsets"]["stdlib"]["source"]["kind"] = "github"
    with pytest.raises(ConfigError) as error:
        validate_config(config)
    assert str(error.value) == (
        "config key seedsets.stdlib.source.kind: 'github' is not allowed; "
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
    config["seedsets"]["stdlib"]["dedup"] = {"threshold": 1.5}
    with pytest.raises(
        ConfigError, match=r"config key seedsets\.stdlib\.dedup\.threshold: 1\.5 is greater"
    ):
        validate_config(config)


def test_a_key_given_twice_in_one_file_is_refused(tmp_path):
    path = tmp_path / "twice.yaml"
    path.write_text("models:\n  a: {id: x}\n  b: {id: y}\n  a: {id: z}\n")
    with pytest.raises(ConfigError) as error:
        load_config_file(path)
    assert str(error.value) == (
        f"{path} line 4: 'a' is given twice in one mapping (first on line 2); names must be unique"
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "the config file is empty"),
        ("- a\n- b\n", "is a list, not a mapping"),
        ("seed: [1, 2\nmodels: {}\n", "not valid YAML"),
    ],
)
def test_an_empty_or_non_mapping_file_is_refused(tmp_path, text, problem):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=problem):
        load_config_file(path)


def test_snakemake_refuses_a_bad_config_naming_key_and_values(tmp_path):
    config = load("demo.yaml")
    config["seedsets"]["stdlib"]["source"]["kind"] = "github"
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
    assert "seedsets.stdlib.source.kind" in output
    assert "'hf', 'local', 'stdlib'" in output


def test_check_config_command(tmp_path):
    run = [sys.executable, "-m", "selfcodealign", "check-config"]
    ok = subprocess.run([*run, str(REPO / "config" / "demo.yaml")], capture_output=True, text=True)
    assert ok.returncode == 0 and "valid" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: {m: {id: x, backend: llama}}\n")
    proc = subprocess.run([*run, str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "config key models.m.backend: 'llama' is not allowed" in proc.stderr
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("models: {m: {id: x}}\ntrainings: {t: {student: m, dataset: nope}}\n")
    proc = subprocess.run([*run, str(unknown)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "trainings.t.dataset: 'nope' is not a datasets entry" in proc.stderr
