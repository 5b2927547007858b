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


def settings(*path):
    """One config section as JSON: a rule's params carry only its own stage's settings."""
    node = config
    for key in path:
        node = node[key]
    return json.dumps(node, sort_keys=True)


def all_targets():
    return [f"{SEEDS}/seeds.jsonl", f"{SEEDS}/funnel.json"]


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
