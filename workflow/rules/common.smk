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
    ]


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
