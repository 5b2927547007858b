# Output paths: every folder is keyed by what determines its contents, so shared work is
# computed once however many experiments use it.
#
#   results/seeds/{seedset}/                  the seed stage (seeds.jsonl, funnel.json)
#   results/base-models/{model}/              a base model the workflow builds or imports (GGUF)
#   results/data/{dataset}/generation/        concepts, instructions, responses (+ counts/)
#   results/data/{dataset}/execution.jsonl    every sample's sandbox verdict
#   results/data/{dataset}/sft.jsonl          the selected pairs (+ funnel.json, report/)
#   results/models/{training}/                the fine-tuned model (+ loss.csv, training.json)
#   results/models/{training}.report/         its loss curve
#   results/eval/{model}/{benchmark}-{prompt}.json
#                                             one evaluation; {model} is a base model or a training
#   results/benchmark-data/{benchmark}.jsonl  the hash-checked benchmark files
#   results/tables/{table}/                   one table in the paper's shape
#   results/logs/..., results/benchmarks/...  a log and a timing per job
#
# A variant dataset (datasets.<name>.variant_of) has only sft.jsonl and its report: it reuses
# the generation and execution of the dataset it names.

import os
import re
import sys
from pathlib import Path
from types import SimpleNamespace

from snakemake.utils import min_version

min_version("9.0")

# The package lives beside the rules; the workflow itself imports it from there.
PACKAGE_DIR = Path(workflow.current_basedir).parent
sys.path.insert(0, str(PACKAGE_DIR))

from selfcodealign.config import ConfigError, check_config_files
from selfcodealign.digest import stage_digest
from selfcodealign.experiments import (
    RUNTIME_KEYS,
    Experiments,
    dumps,
    row_name,
    without,
)
from selfcodealign.interpreter import interpreter_problem, set_job_interpreter
from selfcodealign.stage_model import token_variable

# One line per problem, before any job runs: the schema's, then the references between entries.
# Rules read the checked entries, with their defaults, from EXP (never from `config`).
try:
    check_config_files(workflow.configfiles)
    EXP = Experiments(config)
except ConfigError as error:
    sys.exit(f"error: {error}")

# Jobs run `python -m selfcodealign`. With --sdm conda or apptainer, the python of the
# rule's env or image (each installs the package); otherwise (and for a rule with neither) the
# interpreter running Snakemake, through a shim first on the jobs' PATH, never whatever `python`
# a job's PATH finds first.
DEPLOYMENT = {
    method.item_to_choice() for method in workflow.deployment_settings.deployment_method
}
if problem := interpreter_problem(DEPLOYMENT):
    sys.exit(f"error: {problem}")
set_job_interpreter(DEPLOYMENT, PACKAGE_DIR)


# A gated Hub model (Llama 3) needs a token where it is staged; without one, public models
# still download.
envvars:
    token_variable(),


# --- resources ----------------------------------------------------------------------------------
# Memory grows with each attempt, so a job killed for memory (or preempted) and resubmitted
# (the profile's `retries`) asks for more. Runtime grows too, up to a day, for jobs that start
# over; resumable jobs (generation shards, evaluation samples, training from its checkpoint)
# keep theirs under partition caps and continue where the last attempt stopped.
RUNTIME_CAP_MIN = 1440
# A GPU job's CPUs: vLLM's scheduler and detokenizer, tokenizers and data loading.
CPUS_PER_GPU = 8


def gpu_threads(gpus, cpu_threads=1):
    return CPUS_PER_GPU * gpus if gpus else cpu_threads


def more_memory(base_mb):
    """mem_mb that grows with the attempt; ``base_mb`` is a number or f(wildcards, threads,
    input)."""
    if callable(base_mb):
        return lambda wildcards, threads, input, attempt: int(
            base_mb(wildcards, threads, input) * attempt
        )
    return lambda wildcards, attempt: base_mb * attempt


def more_time(base_min):
    """runtime (minutes) that grows with the attempt, up to a day."""
    return lambda wildcards, attempt: min(
        base_min * attempt, max(base_min, RUNTIME_CAP_MIN)
    )


def image(family):
    """The Apptainer image of a family of rules, containers/<family>.sif, built from
    <family>.def (`make images`). Each rule names its family's conda env and image; the
    families are seeds, generate (vLLM), train, sandbox (untrusted code and scoring), report.
    """
    return str(Path(workflow.basedir) / "containers" / f"{family}.sif")


RESULTS = EXP.results
SEEDS = f"{RESULTS}/seeds/{{seedset}}"
DATA = f"{RESULTS}/data/{{dataset}}"
GEN = f"{DATA}/generation"
MODEL_DIR = f"{RESULTS}/models/{{training}}"
EVAL = f"{RESULTS}/eval/{{model}}/{{benchmark}}-{{prompt}}"
TABLE = f"{RESULTS}/tables/{{table}}"
LOGS = f"{RESULTS}/logs"
BENCH = f"{RESULTS}/benchmarks"
EVALUATION = EXP.evaluation
SEED = EXP.seed


def one_of(names):
    """A wildcard regex matching exactly these names; with none, it matches nothing."""
    return "|".join(re.escape(name) for name in names) or "(?!)"


# Names contain '.' and '-': each wildcard matches only its registry's names.
wildcard_constraints:
    seedset=one_of(EXP.seedsets),
    dataset=one_of(EXP.datasets),
    training=one_of(EXP.trainings),
    model=one_of(EXP.evaluation_names() + list(EXP.models)),
    table=one_of(EXP.tables),
    benchmark="humaneval|mbpp",
    prompt="paper|evalplus",
    step="concepts|instructions|responses",
    shard=r"\d+",


# --- params: what determines a job's result -------------------------------------------------
# Params are functions of wildcards only, so Snakemake reruns a job when they change. Runtime
# settings (GPUs, batch sizes, workers) reach the command through functions that also take
# `input`: Snakemake treats those as derived and never reruns for them.


def determinants(stage, **parts):
    """The rerun trigger of a job: its own settings and its stage's code digest."""
    return dumps({"code": stage_digest(stage), **parts})


def seedset(wildcards):
    return EXP.seedsets[wildcards.seedset]


def seed_settings(step):
    return lambda wildcards: dumps(seedset(wildcards)[step])


def dataset(wildcards):
    return EXP.datasets[wildcards.dataset]


def generated(wildcards):
    """A selected dataset's settings: generator, seed set, generation and execution (its
    root's, for a variant) and its own selection."""
    return dataset(wildcards).settings


# --- seeds ------------------------------------------------------------------------------------


def seed_shards(wildcards):
    return range(seedset(wildcards)["shards"])


def seed_dedup_inputs(wildcards):
    """Type-checked shards, or the filtered ones when the type check is off."""
    step = "typechecked" if seedset(wildcards)["typecheck"]["enabled"] else "filtered"
    return expand(
        f"{RESULTS}/seeds/{wildcards.seedset}/{step}/shard-{{shard}}.jsonl",
        shard=seed_shards(wildcards),
    )


def judge_model(wildcards):
    return seedset(wildcards)["judge"]["model"]


def seed_root(wildcards):
    """The seed set that runs the steps: itself, or the one it subsamples."""
    return SimpleNamespace(seedset=EXP.seedset_root(wildcards.seedset))


def seed_final_records(wildcards):
    root = seed_root(wildcards)
    step = "judged" if judge_model(root) else "deduplicated"
    return f"{RESULTS}/seeds/{root.seedset}/{step}.jsonl"


def seed_step_counts(wildcards):
    """Counts files of the steps that run, in pipeline order (the funnel's order)."""
    root = seed_root(wildcards)
    entry = seedset(root)
    steps = ["extract", "filter"] + (
        ["typecheck"] if entry["typecheck"]["enabled"] else []
    )
    counts = f"{RESULTS}/seeds/{root.seedset}/counts"
    paths = [
        f"{counts}/{step}-{shard}.json" for step in steps for shard in seed_shards(root)
    ]
    paths.append(f"{counts}/dedup.json")
    if judge_model(root):
        paths.append(f"{counts}/judge.json")
    return paths


# --- models -----------------------------------------------------------------------------------


def built_model_input(name):
    """A model's directory (built, imported, or a Hub model staged at its revision) is an input
    of the jobs that use it."""
    return [EXP.model_path(name)]


def gguf_dtype(wildcards):
    """The imported weights' dtype: the model's own, float32 for auto (what GGUF dequantizes to)."""
    dtype = EXP.models[wildcards.model]["dtype"]
    return dtype if dtype in ("float32", "bfloat16") else "float32"


# --- generation ---------------------------------------------------------------------------------


def generator(wildcards):
    return generated(wildcards)["generator"]


def generation_seeds(wildcards):
    """The rows the first generation step reads: seed functions, or snippets (ablation)."""
    settings = generated(wildcards)
    name = "snippets" if settings["seed_kind"] == "snippets" else "seeds"
    return f"{RESULTS}/seeds/{settings['seedset']}/{name}.jsonl"


def step_input(wildcards):
    steps = list(EXP.steps(wildcards.dataset))
    index = steps.index(wildcards.step)
    if index == 0:
        return generation_seeds(wildcards)
    return f"{RESULTS}/data/{wildcards.dataset}/generation/{steps[index - 1]}.jsonl"


def max_rows(wildcards):
    """generation.max_seeds limits the first step only; later steps follow from it."""
    first = next(iter(EXP.steps(wildcards.dataset)))
    return (
        generated(wildcards)["generation"]["max_seeds"]
        if wildcards.step == first
        else None
    )


def generation_determinants(wildcards):
    settings = generated(wildcards)
    return determinants(
        "generation",
        mode=EXP.steps(wildcards.dataset)[wildcards.step],
        sampling=settings["generation"][wildcards.step],
        max_rows=max_rows(wildcards),
        shards=settings["generation"]["shards"],
        model=EXP.model_identity(settings["generator"]),
        seed=SEED,
    )


def generation_counts(wildcards):
    """Counts of the root dataset's generation steps, in pipeline order."""
    root = dataset(wildcards).root
    return [
        f"{RESULTS}/data/{root}/generation/counts/{step}.json"
        for step in EXP.steps(root)
    ]


# --- selection ----------------------------------------------------------------------------------


def root_file(name):
    """A file of the dataset whose samples this one selects from (itself or its root)."""
    return lambda wildcards: f"{RESULTS}/data/{dataset(wildcards).root}/{name}"


def size_like(wildcards):
    target = generated(wildcards)["selection"]["size_of"]
    return [f"{RESULTS}/data/{target}/sft.jsonl"] if target else []


def benchmark_texts(wildcards):
    root = EXP.seedset_root(generated(wildcards)["seedset"])
    return f"{RESULTS}/seeds/{root}/decontamination/benchmark_texts.json"


# --- training -----------------------------------------------------------------------------------


def training(wildcards):
    return EXP.trainings[wildcards.training]


def student(wildcards):
    return training(wildcards)["student"]


def training_gpus(wildcards):
    return EXP.gpus(student(wildcards), "training")


# --- evaluation ---------------------------------------------------------------------------------


def evaluated_model_input(wildcards):
    """The weights a codegen job reads: a fine-tuned model, or a base model built here."""
    if wildcards.model in EXP.trainings:
        return [f"{RESULTS}/models/{wildcards.model}"]
    return built_model_input(wildcards.model)


def evaluated_base(wildcards):
    """The base model behind an evaluation (the student, for a training)."""
    name = wildcards.model
    return EXP.trainings[name]["student"] if name in EXP.trainings else name


def codegen_settings(wildcards):
    """evaluation.generation with the model's GPUs and prompting: fine-tuned models use the
    training's chat template, base models their own `prompt` choice."""
    base = EXP.models[evaluated_base(wildcards)]
    tuned = wildcards.model in EXP.trainings
    return {
        **EVALUATION["generation"],
        "gpus": base["gpus"]["evaluation"],
        "force_base_prompt": (not tuned) and base["prompt"] == "base",
    }


def codegen_model(wildcards, input):
    """The model section for codegen: a fine-tuned directory takes the id's place."""
    section = EXP.model_section(evaluated_base(wildcards))
    if wildcards.model in EXP.trainings:
        section.update(name=input.model[0], revision=None)
    return dumps(section)


def codegen_determinants(wildcards):
    name = wildcards.model
    model = {"training": name} if name in EXP.trainings else EXP.model_identity(name)
    return determinants(
        "evaluation",
        generation=without(codegen_settings(wildcards), RUNTIME_KEYS["codegen"]),
        pin=EVALUATION["datasets"][wildcards.benchmark],
        model=model,
    )


def codegen_gpus(wildcards):
    return codegen_settings(wildcards)["gpus"]


def dataset_pin_flags(wildcards):
    """The pinned version and hashes, checked again before scoring."""
    pin = EVALUATION["datasets"][wildcards.benchmark]
    flags = [f"--dataset-version {pin['version']}"]
    flags += [f"--dataset-{key} {pin[key]}" for key in ("md5", "sha256") if key in pin]
    return " ".join(flags)


def scoring_flags(wildcards, input):
    scoring = EVALUATION["scoring"]
    flags = [
        f"--min-time-limit {scoring['min_time_limit']}",
        f"--gt-time-limit-factor {scoring['gt_time_limit_factor']}",
        f"--solution {scoring['solution']}",
    ]
    if scoring["allow_unisolated"]:
        flags.append("--allow-unisolated")
    return " ".join(flags)


def eval_file(name, benchmark, prompt):
    return f"{RESULTS}/eval/{name}/{benchmark}-{prompt}.json"


def model_evaluations(names):
    return [
        eval_file(name, benchmark, prompt)
        for name in names
        for benchmark in EVALUATION["benchmarks"]
        for prompt in EVALUATION["prompts"]
    ]


# --- tables -------------------------------------------------------------------------------------


def table_spec(name):
    """What the table shows: its rows, each with the model, data and evaluation files."""
    table = EXP.tables[name]
    prompt = table["prompt"]

    def model_ref(model):
        return {"name": model, "id": EXP.models[model]["id"] or model}

    def evals(model):
        return {b: eval_file(model, b, prompt) for b in table["benchmarks"]}

    rows = []
    for row in table["rows"]:
        entry = {"name": row_name(row), "label": None, "paper": None}
        if isinstance(row, dict):
            entry.update(label=row.get("label"), paper=row.get("paper"))
        if entry["name"] in EXP.trainings:
            train = EXP.trainings[entry["name"]]
            data = EXP.datasets[train["dataset"]]
            maker = EXP.generator_of(train["dataset"])
            entry.update(
                kind="training",
                model=model_ref(train["student"]),
                generator=model_ref(maker) if maker else None,
                dataset={
                    "name": data.name,
                    "kind": "external" if data.kind == "external" else "generated",
                    "selection_mode": data.settings.get("selection", {}).get("mode"),
                    "seed_kind": data.settings.get("seed_kind"),
                    "pipeline": data.settings.get("pipeline"),
                    "sft": f"{RESULTS}/data/{data.name}/sft.jsonl",
                },
                evals=evals(entry["name"]),
                base_evals=evals(train["student"]),
            )
        else:
            entry.update(
                kind="model",
                model=model_ref(entry["name"]),
                generator=None,
                dataset=None,
                evals=evals(entry["name"]),
                base_evals={},
            )
        rows.append(entry)
    return {
        "table": name,
        "shape": table["shape"],
        "title": table["title"],
        "prompt": prompt,
        "benchmarks": table["benchmarks"],
        "rows": rows,
    }


def table_inputs(wildcards):
    spec = table_spec(wildcards.table)
    files = []
    for row in spec["rows"]:
        files += [*row["evals"].values(), *row["base_evals"].values()]
        if row["dataset"]:
            files.append(row["dataset"]["sft"])
    return list(dict.fromkeys(files))


def matrix_tables():
    """Tables in Table 8's shape: they get a heatmap too."""
    return [name for name, table in EXP.tables.items() if table["shape"] == "table8"]


def table_files():
    """A table's outputs: Markdown, CSV and bars (with captions for `snakemake --report`)."""

    def shown(name, figure, caption="table"):
        return report(
            f"{TABLE}/{name}",
            caption=f"../report/{caption}.rst",
            category="Tables",
            subcategory="{table}",
            labels={"table": "{table}", "figure": figure},
        )

    return {
        "md": f"{TABLE}/table.md",
        "csv": shown("table.csv", "table"),
        "png": shown("table.png", "bars"),
        "summary": f"{TABLE}/summary.json",
        "heatmap": shown("heatmap.png", "heatmap", caption="heatmap"),
    }


# --- targets ------------------------------------------------------------------------------------


def table_outputs(name):
    """The files of the report rule that writes this table (after every rule file is included)."""
    writer = rules.matrix_report if name in matrix_tables() else rules.table_report
    return expand(list(writer.output), table=name)


def all_targets():
    """Every table, every training with its evaluations and loss curve, every dataset with its
    funnel, and the base evaluation of every student and every model a table shows."""
    targets = [file for name in EXP.tables for file in table_outputs(name)]
    for name in EXP.trainings:
        targets += [
            f"{RESULTS}/models/{name}",
            f"{RESULTS}/models/{name}.report/loss.png",
        ]
    for name in EXP.selected():
        targets.append(f"{RESULTS}/data/{name}/report/funnel.md")
    targets += [f"{RESULTS}/data/{name}/sft.jsonl" for name in EXP.external()]
    targets += model_evaluations(EXP.evaluation_names())
    return list(dict.fromkeys(targets))
