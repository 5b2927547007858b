import hashlib
import json
import os
import sys
from pathlib import Path

from snakemake.utils import min_version, validate

min_version("9.0")

# The package lives beside the rules: jobs (local, SLURM, conda, container) inherit this
# environment, so `python -m selfcodealign` works in each without installing the package.
PACKAGE_DIR = Path(workflow.current_basedir).parent
sys.path.insert(0, str(PACKAGE_DIR))

from selfcodealign.config import validate_config

# A one-line error per bad key (with the allowed keys or values) before Snakemake's own
# validation, which fills in the schema's defaults.
validate_config(config)
validate(config, "../schemas/config.schema.yaml")
os.environ.update(
    PYTHONPATH=os.pathsep.join(
        filter(None, [str(PACKAGE_DIR), os.environ.get("PYTHONPATH")])
    )
)

EXP = config["experiment"]
RESULTS = f"results/{EXP}"
SEEDS = f"{RESULTS}/seeds"
LOGS = f"{RESULTS}/logs"
BENCH = f"{RESULTS}/benchmarks"
SHARDS = list(range(config["seeds"]["shards"]))
TYPECHECK = config["seeds"]["typecheck"]["enabled"]
JUDGE = config["seeds"]["judge"]["enabled"]
JUDGE_GPUS = config["seeds"]["judge"]["gpus"]

GEN = f"{RESULTS}/generation"
DATASET = f"{RESULTS}/dataset"
EXEC_SHARDS = config["execution"]["shards"]
FT_GPUS = config["finetune"]["gpus"]
GEN_SHARDS = config["generation"]["shards"]
GEN_GPUS = config["generation"]["gpus"]
# The pool enters params by content, so editing it reruns generation but moving the
# checkout does not.
POOL_DIGEST = hashlib.sha1(
    (PACKAGE_DIR / "prompts" / "fewshot_pool.yaml").read_bytes()
).hexdigest()
S2I = config["generation"]["pipeline"] == "s2i"
# The prompt mode of each generation step (S->I replaces C->I in the ablation).
STEP_MODE = {
    "concepts": "s2c",
    "instructions": "s2i" if S2I else "c2i",
    "responses": "i2r",
}
PROMPT_SHOTS = {
    mode: config["generation"][step]["shots"] for step, mode in STEP_MODE.items()
}
# The demo builds its own tiny model and uses it in place of model.name.
DEMO_MODEL = config["demo_model"]["enabled"]
MODEL_INPUTS = [f"{RESULTS}/demo-model"] if DEMO_MODEL else []
MODEL_JSON = json.dumps(
    {**config["model"], **({"name": MODEL_INPUTS[0]} if DEMO_MODEL else {})},
    sort_keys=True,
)
# Evaluation (EvalPlus) and the report.
EVAL = f"{RESULTS}/eval"
REPORT = f"{RESULTS}/report"
EVALUATION = config["evaluation"]
EVAL_GPUS = EVALUATION["generation"]["gpus"]
BENCHMARK_PATTERN = "humaneval|mbpp"


def settings(*path):
    """One config section as JSON: a rule's params carry only its own stage's settings."""
    node = config
    for key in path:
        node = node[key]
    return json.dumps(node, sort_keys=True)


def all_targets():
    return [
        f"{SEEDS}/seeds.jsonl",
        f"{SEEDS}/funnel.json",
        f"{DATASET}/sft.jsonl",
        f"{RESULTS}/model/finetuned",
        # Called by rule all, after every rule file is included.
        *(rules.report.output if EVALUATION["enabled"] else []),
    ]


def evaluation_results():
    return expand(
        f"{EVAL}/{{model}}/{{benchmark}}-{{prompt}}.json",
        model=EVALUATION["models"],
        benchmark=EVALUATION["benchmarks"],
        prompt=EVALUATION["prompts"],
    )


def generation_counts():
    """Counts of the generation steps that run, in pipeline order (for the report's funnel)."""
    steps = ["instructions", "responses"] if S2I else list(STEP_MODE)
    return [f"{GEN}/counts/{step}.json" for step in steps]


def finetuned_for_report():
    """The fine-tuned model (its loss curve), unless only the base model is evaluated: then the
    report waits for no training."""
    return [f"{RESULTS}/model/finetuned"] if "finetuned" in EVALUATION["models"] else []


def evaluated_model_inputs(kind):
    """The weights a codegen job reads: the fine-tuned output, or the demo's own base model
    (a Hub id or an outside directory is no input)."""
    return [f"{RESULTS}/model/finetuned"] if kind == "finetuned" else MODEL_INPUTS


def evaluated_model_json(kind, inputs):
    """The model section for codegen: the fine-tuned directory takes model.name's place."""
    if kind == "base":
        return MODEL_JSON
    return json.dumps(
        {**config["model"], "name": inputs[0], "revision": None}, sort_keys=True
    )


def dataset_pin_flags(benchmark):
    """The pinned version and hashes, checked again before scoring."""
    pin = EVALUATION["datasets"][benchmark]
    flags = [f"--dataset-version {pin['version']}"]
    flags += [f"--dataset-{key} {pin[key]}" for key in ("md5", "sha256") if key in pin]
    return " ".join(flags)


def scoring_flags():
    scoring = EVALUATION["scoring"]
    flags = [
        f"--min-time-limit {scoring['min_time_limit']}",
        f"--gt-time-limit-factor {scoring['gt_time_limit_factor']}",
    ]
    if scoring["allow_unisolated"]:
        flags.append("--allow-unisolated")
    return " ".join(flags)


def generation_seeds():
    """The rows the first generation step reads: seed functions, or snippets (ablation)."""
    if config["generation"]["seed_source"] == "snippets":
        return f"{GEN}/snippets.jsonl"
    return f"{SEEDS}/seeds.jsonl"


def step_input(step):
    if step == "concepts" or (step == "instructions" and S2I):
        return generation_seeds()
    return f"{GEN}/{'concepts' if step == 'instructions' else 'instructions'}.jsonl"


def max_rows_flag(step):
    """generation.max_seeds limits the first step only; later steps follow from it."""
    first = "instructions" if S2I else "concepts"
    limit = config["generation"]["max_seeds"]
    return f"--max-rows {limit}" if step == first and limit else ""


def seed_dedup_inputs():
    """Type-checked shards, or the filtered ones when the type check is off."""
    step = "typechecked" if TYPECHECK else "filtered"
    return expand(f"{SEEDS}/{step}/shard-{{shard}}.jsonl", shard=SHARDS)


def seed_final_records():
    return f"{SEEDS}/judged.jsonl" if JUDGE else f"{SEEDS}/deduplicated.jsonl"


def seed_step_counts():
    """Counts files of the steps that run, in pipeline order (the funnel's order)."""
    steps = ["extract", "filter"] + (["typecheck"] if TYPECHECK else [])
    counts = [
        f"{SEEDS}/counts/{step}-{shard}.json" for step in steps for shard in SHARDS
    ]
    counts.append(f"{SEEDS}/counts/dedup.json")
    if JUDGE:
        counts.append(f"{SEEDS}/counts/judge.json")
    return counts
