"""The 2x2 demo end to end through a real SLURM, shrunk, and what a changed setting reruns.

Two tiny models are built (the demo's SmolLM2 slot gets the second), each writes a dataset
from the few-shot pool's functions, each is fine-tuned on both datasets, all six are scored on
a few HumanEval+ tasks, and the Table 8 matrix is written. The run is `snakemake --profile
slurm`, as users type it, against a single-node SLURM started here (tests/slurm_cluster.py):
the profile is the repository's own, installed by name, with the few settings a cluster
without accounting needs on top; every job but the local rules goes through sbatch. Then each
kind of config change is dry-run against the finished run: the jobs it plans must be exactly
the ones that change depends on.
"""

from __future__ import annotations

import copy
import csv
import gzip
import hashlib
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from conftest import REPO, copy_workflow, snakemake_env
from slurm_cluster import ClusterUnavailable, start_cluster

pytestmark = [pytest.mark.slow, pytest.mark.slurm]

MODELS = ("smollm2", "tiny")
DATASETS = {"smollm2": "smollm2-data", "tiny": "tiny-data"}
TRAININGS = [f"{m}-on-{d}" for m in MODELS for d in DATASETS.values()]
TABLE = "results/tables/demo-table8"
# A few HumanEval+ tasks keep the six evaluations short; the file is pinned by its own md5.
EVAL_TASKS = 6


def snakemake(workdir: Path, configfile: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", configfile, *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        env=snakemake_env(),
    )


def shrink(config: dict, workdir: Path) -> dict:
    """The demo, small enough for a test. Its models learn only the two prompt modes of the
    seed -> instruction pipeline (fewer steps teach them the answers' format), and the seeds
    are the few-shot pool's own functions: what models this small can answer usably."""
    from selfcodealign.instruct.pool import load_pool

    seeds = workdir / "pool-seeds"
    seeds.mkdir()
    for example in load_pool():
        (seeds / f"{example.id}.py").write_text(example.code)
    stdlib = config["seedsets"].pop("stdlib")
    config["seedsets"]["pool"] = {**stdlib, "source": {"kind": "local", "path": str(seeds)}}
    # SmolLM2's slot gets a second tiny model, from another random start: the real model is
    # too slow here (test_gguf_import.py and tests_vllm/ run it).
    tiny = config["models"]["tiny"]
    config["models"]["smollm2"] = {**tiny, "build": {**tiny["build"], "seed": 7}}
    for model in config["models"].values():
        model["build"] = {**model["build"], "steps": 1500, "learning_rate": 0.005}
        model["build"]["shots"] = {"s2i": 0, "i2r": 0}
    for dataset in config["datasets"].values():
        dataset.update(seedset="pool", pipeline="s2i")
        generation = dataset["generation"] = copy.deepcopy(
            config["datasets"]["tiny-data"]["generation"]
        )
        # two shards each, so the rerun checks below see sharded steps
        generation.update(max_seeds=8, batch_size=8, shards=2)
        generation["instructions"].update(temperature=0.0)
        generation["responses"].update(n=2, temperature=0.0)
        dataset["execution"] = {**dataset["execution"], "shards": 2}
        # every sample that passes the format check, passed or not: training needs rows
        dataset["selection"] = {**dataset["selection"], "mode": "random_selection"}
    for training in config["trainings"].values():
        training["recipe"] = {**training["recipe"], "max_steps": 2, "max_length": 512}
        training["recipe"]["min_pairs"] = 1
    config["evaluation"]["prompts"] = ["paper"]
    # the tables of other prompts go with them
    config["tables"] = {
        name: table
        for name, table in config["tables"].items()
        if table.get("prompt", "paper") == "paper"
    }
    with gzip.open(REPO / "resources/humanevalplus/HumanEvalPlus-Mini-v0.1.10.jsonl.gz") as tasks:
        subset = b"".join(line for _, line in zip(range(EVAL_TASKS), tasks, strict=False))
    (workdir / "humaneval-subset.jsonl").write_bytes(subset)
    config["evaluation"]["datasets"]["humaneval"] = {
        "version": "v0.1.10",
        "md5": hashlib.md5(subset).hexdigest(),
        "path": "humaneval-subset.jsonl",
    }
    config["evaluation"]["generation"]["max_tokens"] = 16
    return config


# The rules ask for up to 64 GB (seeds_dedup). The daemons enforce nothing here, so the node
# pretends to have this much memory; CPUs are the machine's, and --max-threads caps rules.
NODE_MEM_MB = 1_000_000
SLURM_TIMEOUT_S = 2400
# What a cluster without accounting needs on top of the real profile: status from squeue, not
# sacct (and, with no account given, the plugin submits without one); a first status check
# after 8 s, as a job here ends about 6 s after its submission; a small node; a local disk; and
# per-job SLURM logs kept, to check them.
TEST_OVERRIDES = {
    "slurm-status-command": "squeue",
    "slurm-init-seconds-before-status-checks": 8,
    "slurm-keep-successful-logs": True,
    "jobs": 4,
    "latency-wait": 5,
    "retries": 0,
}


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    try:
        cluster = start_cluster(tmp_path_factory.mktemp("slurm"), mem_mb=NODE_MEM_MB)
    except ClusterUnavailable as err:
        pytest.skip(f"no local SLURM cluster: {err}")
    try:
        yield cluster
    finally:
        cluster.stop()


def install_test_profile(config_home: Path, cpus: int) -> Path:
    """profiles/slurm installed by name where Snakemake looks (XDG_CONFIG_HOME), as
    `make install-profile` does, with the test cluster's few differences on top."""
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    profile.update(TEST_OVERRIDES, **{"max-threads": cpus})
    path = config_home / "snakemake" / "slurm" / "config.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(profile, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def demo_slurm(tmp_path_factory, slurm_cluster):
    workdir = copy_workflow(tmp_path_factory.mktemp("workflow"))
    config = shrink(yaml.safe_load((workdir / "config" / "demo.yaml").read_text()), workdir)
    (workdir / "config" / "fast.yaml").write_text(yaml.safe_dump(config))
    config_home = tmp_path_factory.mktemp("config-home")
    install_test_profile(config_home, slurm_cluster.cpus)
    env = slurm_cluster.environ({**snakemake_env(), "XDG_CONFIG_HOME": str(config_home)})
    command = [sys.executable, "-m", "snakemake", "--profile", "slurm"]
    command += ["--configfile", "config/fast.yaml"]
    start = time.monotonic()
    try:
        proc = subprocess.run(
            command, cwd=workdir, env=env, capture_output=True, text=True, timeout=SLURM_TIMEOUT_S
        )
    except subprocess.TimeoutExpired as err:
        pytest.fail(
            f"snakemake ran past {SLURM_TIMEOUT_S} s\n{err.stderr}\n"
            + slurm_cluster.run("squeue", "--states=all").stdout
            + slurm_cluster.logs()
        )
    report = f"{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}\n{slurm_cluster.logs()}"
    assert proc.returncode == 0, report
    print(f"demo through SLURM: {time.monotonic() - start:.0f} s")
    return SimpleNamespace(workdir=workdir, output=proc.stdout + proc.stderr, cluster=slurm_cluster)


@pytest.fixture(scope="module")
def demo_run(demo_slurm) -> Path:
    return demo_slurm.workdir


def test_every_job_went_through_slurm(demo_slurm):
    """slurmctld gave the node to each job, the executor kept a per-job log for each rule that
    is not a local one, every job completed, and only local rules ran on this machine."""
    cluster, workdir = demo_slurm.cluster, demo_slurm.workdir
    logdir = workdir / ".snakemake" / "slurm_logs"
    slurm_logs = sorted(logdir.rglob("*.log"))
    rules = {path.relative_to(logdir).parts[0].removeprefix("rule_") for path in slurm_logs}
    expected = {
        "seeds_extract", "seeds_filter", "seeds_typecheck", "seeds_dedup", "base_model",
        "instruct_shard", "execute_shard", "select", "finetune", "codegen", "evaluate",
    }  # fmt: skip
    assert expected <= rules, f"rules with SLURM logs: {sorted(rules)}"
    # one SLURM log per job snakemake sent to the cluster, and slurmctld allocated each
    remote = re.findall(r"^rule (\w+):", demo_slurm.output, re.M)
    allocated = cluster.allocated_jobs()
    assert len(allocated) >= len(slurm_logs) == len(remote) > 30, (len(allocated), len(remote))
    queue = cluster.run("squeue", "--states=all", "--noheader", "--format=%i|%j|%T")
    states = {line.split("|")[-1] for line in queue.stdout.split()}
    assert states == {"COMPLETED"}, queue.stdout
    local = set(re.findall(r"^localrule (\w+):", demo_slurm.output, re.M)) - {"all"}
    assert local and local <= LOCAL_RULES, sorted(local)


# Rules that run where snakemake runs (the login node): downloads, gathers and reports.
LOCAL_RULES = {
    "seeds_plan", "seeds_benchmark_texts", "seeds_gather", "instruct_gather", "execute_gather",
    "benchmark_data", "external_dataset", "table_report", "matrix_report", "dataset_report",
    "training_report",
}  # fmt: skip


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_every_stage_passes_rows_on(demo_run):
    results = demo_run / "results"
    seeds = read_jsonl(results / "seeds/pool/seeds.jsonl")
    funnel = json.loads((results / "seeds/pool/funnel.json").read_text())
    assert len(seeds) >= 8 and funnel["final"] == len(seeds)
    assert [s["step"] for s in funnel["steps"]] == [
        "extract",
        "static_filters",
        "typecheck",
        "dedup",
    ]
    for name in DATASETS.values():
        data = results / "data" / name
        for step in ("instructions", "responses"):
            counts = json.loads((data / "generation/counts" / f"{step}.json").read_text())
            assert counts["output"] > 0, (name, step, counts)
        assert not (data / "generation/concepts.jsonl").exists()  # s2i: no concepts step
        executions = read_jsonl(data / "execution.jsonl")
        assert executions and all(row["isolation"] == "bwrap" for row in executions)
        sft = read_jsonl(data / "sft.jsonl")
        assert sft, f"{name}: no training pairs"
        assert json.loads((data / "funnel.json").read_text())["final"] == len(sft)
        assert (data / "report/funnel.png").read_bytes()[:4] == b"\x89PNG"
    for name in TRAININGS:
        model = results / "models" / name
        summary = json.loads((model / "training.json").read_text())
        assert summary["global_step"] >= 1, summary
        with open(model / "loss.csv", newline="") as handle:
            assert list(csv.DictReader(handle)), f"{name}: empty loss curve"
        assert (results / "models" / f"{name}.report" / "loss.png").read_bytes()[:4] == b"\x89PNG"


def test_the_matrix_report_shows_the_evaluations(demo_run):
    results = demo_run / "results"
    with open(demo_run / TABLE / "table.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    shown = json.dumps(rows)
    for name in [*MODELS, *TRAININGS]:
        result = json.loads((results / "eval" / name / "humaneval-paper.json").read_text())
        assert len(result["tasks"]) == EVAL_TASKS
        plus = 100 * result["pass@1"]["plus"]
        assert f"{plus:g}" in shown or f"{plus:.1f}" in shown, (name, plus, rows)
    summary = json.loads((demo_run / TABLE / "summary.json").read_text())
    assert summary["spec"]["shape"] == "table8"
    for name in ("table.md", "table.png", "heatmap.png"):
        assert (demo_run / TABLE / name).stat().st_size > 0


# --- what a change reruns -------------------------------------------------------------------


def planned(workdir: Path, edit) -> list[tuple[str, str]]:
    """(rule, first output) of every job a dry run plans after ``edit`` of the config."""
    # A JSON round trip unties YAML anchors: an edit of one entry must not reach another.
    config = json.loads(json.dumps(yaml.safe_load((workdir / "config" / "fast.yaml").read_text())))
    edit(config)
    (workdir / "config" / "changed.yaml").write_text(yaml.safe_dump(config))
    proc = snakemake(workdir, "config/changed.yaml", "-n")
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = proc.stdout + proc.stderr
    jobs = re.findall(r"^(?:local)?rule (\w+):\n(?:    .*\n)*?    output: ([^,\n]+)", text, re.M)
    return sorted(job for job in jobs if job[0] != "all")


def evaluation_jobs(*names: str) -> list[tuple[str, str]]:
    jobs = []
    for name in names:
        base = f"results/eval/{name}/humaneval-paper"
        jobs += [("codegen", f"{base}.samples.jsonl"), ("evaluate", f"{base}.json")]
    return jobs


def training_jobs(*names: str) -> list[tuple[str, str]]:
    jobs = []
    for name in names:
        jobs += [
            ("finetune", f"results/models/{name}"),
            ("training_report", f"results/models/{name}.report/loss.png"),
        ]
    return jobs + evaluation_jobs(*names)


def selection_jobs(dataset: str) -> list[tuple[str, str]]:
    data = f"results/data/{dataset}"
    return [("select", f"{data}/sft.jsonl"), ("dataset_report", f"{data}/report/funnel.md")]


MATRIX = [("matrix_report", f"{TABLE}/table.md")]
ON_A = [t for t in TRAININGS if t.endswith("on-smollm2-data")]


def test_nothing_changed_plans_nothing(demo_run):
    assert planned(demo_run, lambda c: None) == []


def test_runtime_settings_rerun_nothing(demo_run):
    def runtime(config):
        for model in config["models"].values():
            model["gpus"].update(evaluation=2, training=2, generation=2)
            model["gpu_memory_utilization"] = 0.5
        for dataset in config["datasets"].values():
            dataset["generation"]["batch_size"] = 16
            dataset["execution"].update(threads=2, allow_unisolated=True)
        for training in config["trainings"].values():
            training["recipe"].update(per_device_batch_size=1, save_steps=7)
            training["recipe"].update(accelerate_config="fsdp", gradient_checkpointing=True)
        config["evaluation"]["generation"]["batch_size"] = 8
        config["evaluation"]["scoring"]["parallel"] = 1
        config["openai"] = {"base_url": "http://elsewhere:8000/v1", "concurrency": 4}

    assert planned(demo_run, runtime) == []


def test_a_sampling_setting_reruns_that_dataset_and_what_uses_it(demo_run):
    def hotter(config):
        config["datasets"]["smollm2-data"]["generation"]["responses"]["temperature"] = 0.9

    data = "results/data/smollm2-data"
    assert planned(demo_run, hotter) == sorted(
        [
            ("instruct_shard", f"{data}/generation/responses/shard-0.jsonl"),
            ("instruct_shard", f"{data}/generation/responses/shard-1.jsonl"),
            ("instruct_gather", f"{data}/generation/responses.jsonl"),
            ("execute_shard", f"{data}/execution/shard-0.jsonl"),
            ("execute_shard", f"{data}/execution/shard-1.jsonl"),
            ("execute_gather", f"{data}/execution.jsonl"),
            *selection_jobs("smollm2-data"),
            *training_jobs(*ON_A),
            *MATRIX,
        ]
    )


def test_a_selection_mode_reselects_without_the_sandbox(demo_run):
    def passes(config):
        config["datasets"]["tiny-data"]["selection"]["mode"] = "failures_only"

    on_b = [t for t in TRAININGS if t.endswith("on-tiny-data")]
    expected = [*selection_jobs("tiny-data"), *training_jobs(*on_b), *MATRIX]
    assert planned(demo_run, passes) == sorted(expected)


def test_a_recipe_retrains_that_cell_only(demo_run):
    def longer(config):
        config["trainings"]["tiny-on-smollm2-data"]["recipe"]["max_steps"] = 3

    assert planned(demo_run, longer) == sorted([*training_jobs("tiny-on-smollm2-data"), *MATRIX])


def test_a_model_revision_reruns_everything_that_model_touches(demo_run):
    def pinned(config):
        config["models"]["smollm2"]["revision"] = "v2"

    data = "results/data/smollm2-data"
    generation = [
        (rule, f"{data}/{path}")
        for rule, path in [
            ("instruct_shard", "generation/instructions/shard-0.jsonl"),
            ("instruct_shard", "generation/instructions/shard-1.jsonl"),
            ("instruct_gather", "generation/instructions.jsonl"),
            ("instruct_shard", "generation/responses/shard-0.jsonl"),
            ("instruct_shard", "generation/responses/shard-1.jsonl"),
            ("instruct_gather", "generation/responses.jsonl"),
            ("execute_shard", "execution/shard-0.jsonl"),
            ("execute_shard", "execution/shard-1.jsonl"),
            ("execute_gather", "execution.jsonl"),
        ]
    ]
    # its data, both trainings on it, its own trainings as a student, its base evaluation;
    # tiny's data, base evaluation and training on its own data stay
    touched = sorted({*ON_A, "smollm2-on-tiny-data"})
    expected = [
        *generation,
        *selection_jobs("smollm2-data"),
        *training_jobs(*touched),
        *evaluation_jobs("smollm2"),
        *MATRIX,
    ]
    assert planned(demo_run, pinned) == sorted(expected)


def test_an_evaluation_setting_rescores_every_model_and_nothing_before(demo_run):
    def longer_answers(config):
        config["evaluation"]["generation"]["max_tokens"] = 24

    assert planned(demo_run, longer_answers) == sorted(
        [*evaluation_jobs(*MODELS, *TRAININGS), *MATRIX]
    )


def test_a_new_student_adds_its_own_jobs_only(demo_run):
    def third(config):
        config["models"]["tiny-c"] = {
            **config["models"]["tiny"],
            "build": {**config["models"]["tiny"]["build"], "seed": 11},
        }
        config["trainings"]["tiny-c-on-smollm2-data"] = {
            **config["trainings"]["tiny-on-smollm2-data"],
            "student": "tiny-c",
        }
        config["tables"]["demo-table8"]["rows"].append("tiny-c-on-smollm2-data")

    expected = [
        ("base_model", "results/base-models/tiny-c"),
        *training_jobs("tiny-c-on-smollm2-data"),
        *evaluation_jobs("tiny-c"),
        *MATRIX,
    ]
    assert planned(demo_run, third) == sorted(expected)


def test_a_code_edit_reruns_its_stage_and_what_follows(demo_run):
    module = demo_run / "workflow" / "selfcodealign" / "select" / "selection.py"
    original = module.read_text()
    module.write_text(original + "\n# an edit\n")
    try:
        jobs = planned(demo_run, lambda c: None)
    finally:
        module.write_text(original)
    expected = [
        *selection_jobs("smollm2-data"),
        *selection_jobs("tiny-data"),
        *training_jobs(*TRAININGS),
        *MATRIX,
    ]
    assert jobs == sorted(expected)
    # and back to the original code, nothing
    assert planned(demo_run, lambda c: None) == []


def test_snakemake_report_renders_the_tables(demo_run, tmp_path):
    html = tmp_path / "report.html"
    proc = snakemake(demo_run, "config/fast.yaml", "--report", str(html))
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = html.read_text()
    assert text.lstrip().lower().startswith("<!doctype html")
    for name in ("heatmap.png", "table.csv", "funnel.png", "loss.png"):
        assert name in text
