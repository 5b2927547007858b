"""The experiment matrix: named models, seed sets, datasets, trainings and tables, resolved.

The workflow's rules ask this module every question about an entry: what it refers to, its
settings with defaults filled in, and which of those settings determine its results. References
between entries are checked once, at start-up, with one line per problem.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass
from typing import Any

from selfcodealign.config import ConfigError, validate_config, validate_section
from selfcodealign.select.external import validate_settings as validate_external

# The paper's learning rates: 1e-5 for data the student wrote itself, 2e-5 for anyone else's.
SELF_DATA_LR = 1e-5
OTHER_DATA_LR = 2e-5

# Settings that change how fast or where a job runs, never what it writes: they stay out of
# the params Snakemake compares, so changing them reruns nothing.
RUNTIME_KEYS = {
    "execution": ("threads", "allow_unisolated"),
    "judge": ("batch_size", "shards"),
    "typecheck": ("batch_size",),
    "recipe": (
        "per_device_batch_size",
        "gradient_checkpointing",
        "save_steps",
        "save_total_limit",
        "cleanup_checkpoints",
        "accelerate_config",
    ),
    "codegen": ("batch_size", "gpus"),
    "scoring": ("parallel", "allow_unisolated"),
}
# The model settings that change what it generates (GPU counts and memory share do not).
MODEL_IDENTITY_KEYS = ("id", "build", "gguf", "revision", "dtype", "backend", "max_model_len")
# Where a model's weights come from: exactly one of these per models entry.
MODEL_SOURCES = ("id", "gguf", "build")
# Which generation step runs in which prompt mode, per pipeline.
PIPELINE_STEPS = {
    "s2c2i": {"concepts": "s2c", "instructions": "c2i", "responses": "i2r"},
    "s2i": {"instructions": "s2i", "responses": "i2r"},
}
TABLE_SHAPES_WITH_MODELS = ("table1",)


def dumps(value: Any) -> str:
    """Canonical JSON: Snakemake compares params by their text, so key order must not vary."""
    return json.dumps(value, sort_keys=True)


def without(section: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: value for key, value in section.items() if key not in keys}


@dataclass(frozen=True)
class Dataset:
    name: str
    kind: str  # generated, variant or external
    root: str  # the generated dataset whose samples and execution this one uses
    settings: dict[str, Any]


class Experiments:
    """Every entry of a config, checked and with defaults, looked up by name."""

    def __init__(self, config: dict[str, Any], results: str = "results") -> None:
        raw = config
        config = validate_config(config)
        self.results = results
        self.seed: int = config["seed"]
        self.models: dict[str, dict[str, Any]] = config["models"]
        self.seedsets: dict[str, dict[str, Any]] = config["seedsets"]
        self.trainings: dict[str, dict[str, Any]] = config["trainings"]
        self.tables: dict[str, dict[str, Any]] = config["tables"]
        self.evaluation: dict[str, Any] = config["evaluation"]
        self.openai: dict[str, Any] = config["openai"]
        errors: list[str] = []
        errors += self._check_names()
        errors += [
            f"evaluation.generation.{key}: set per model (models.<name>.{where})"
            for key, where in (("gpus", "gpus.evaluation"), ("force_base_prompt", "prompt"))
            if key in ((raw.get("evaluation") or {}).get("generation") or {})
        ]
        errors += self._check_models()
        errors += self._check_seedsets(raw.get("seedsets") or {})
        self.datasets = self._resolve_datasets(config["datasets"], errors)
        errors += self._check_trainings(raw.get("trainings") or {})
        errors += self._check_tables()
        if errors:
            raise ConfigError("\n".join(errors))
        for training in self.trainings.values():
            recipe = training["recipe"]
            if recipe["learning_rate"] is None:
                recipe["learning_rate"] = (
                    SELF_DATA_LR if self.generator_of(training["dataset"]) == training["student"]
                    else OTHER_DATA_LR
                )  # fmt: skip

    # --- checks -------------------------------------------------------------------------------

    def _check_names(self) -> list[str]:
        # A base model and a training share the results/eval/<name>/ namespace.
        return [
            f"trainings.{name}: the name is also a models entry (their evaluations share"
            f" results/eval/{name}/); rename one"
            for name in self.trainings
            if name in self.models
        ]

    def _check_models(self) -> list[str]:
        errors = []
        for name, model in self.models.items():
            if sum(model[key] is not None for key in MODEL_SOURCES) != 1:
                errors.append(
                    f"models.{name}: give exactly one of id (a Hub id or a directory),"
                    " gguf (a GGUF file) or build"
                )
        return errors

    def _ref(self, where: str, name: Any, registry: str) -> list[str]:
        """An error if ``name`` is no entry of ``registry`` (models, seedsets, datasets)."""
        entries = getattr(self, registry)
        if name not in entries:
            known = ", ".join(sorted(entries)) or "none"
            return [f"{where}: {name!r} is not a {registry} entry (known: {known})"]
        return []

    def _check_seedsets(self, raw: dict[str, Any]) -> list[str]:
        errors = []
        for name, seedset in self.seedsets.items():
            parent = seedset["subsample_of"]
            if parent is not None:
                errors += self._check_subsample(name, parent, raw[name])
                continue
            source = seedset["source"]
            if source["kind"] == "local":
                path = source["path"]
                if not path:
                    errors.append(f"seedsets.{name}.source.path: a local source needs a path")
                elif not os.path.isdir(path):
                    errors.append(
                        f"seedsets.{name}.source.path: {path!r} is not a directory"
                        f" (relative paths start at {os.getcwd()})"
                    )
            judge = seedset["judge"]["model"]
            if judge is not None:
                errors += self._ref(f"seedsets.{name}.judge.model", judge, "models")
        return errors

    def _check_subsample(self, name: str, parent: str, raw: dict[str, Any]) -> list[str]:
        where = f"seedsets.{name}"
        extra = sorted(set(raw) - {"subsample_of", "subsample"})
        if extra:
            return [
                f"{where}: a subsample shares every step of {parent!r};"
                f" only subsample may be set beside subsample_of (not {', '.join(extra)})"
            ]
        if parent not in self.seedsets or self.seedsets[parent]["subsample_of"] is not None:
            return [f"{where}.subsample_of: {parent!r} is not a seed set of its own"]
        if raw.get("subsample") is None:
            return [f"{where}.subsample: a subsample needs its size"]
        return []

    def seedset_root(self, name: str) -> str:
        """The seed set whose steps this one's seeds come from (itself, or its parent)."""
        return self.seedsets[name]["subsample_of"] or name

    def _resolve_datasets(
        self, entries: dict[str, dict[str, Any]], errors: list[str]
    ) -> dict[str, Dataset]:
        """Datasets by name from the validated entries (a section given is filled in already;
        one left out takes its defaults here)."""

        def section(entry: dict[str, Any], key: str) -> dict[str, Any]:
            return entry[key] if key in entry else validate_section({}, key)

        datasets = {}
        for name, entry in entries.items():
            where = f"datasets.{name}"
            if "external" in entry:
                extra = sorted(set(entry) - {"external"})
                if extra:
                    errors.append(f"{where}: an external dataset takes no {', '.join(extra)}")
                try:
                    settings = validate_external(entry["external"], f"{where}.external")
                except ConfigError as error:
                    errors.append(str(error))
                    settings = {}
                datasets[name] = Dataset(name, "external", name, {"external": settings})
            elif "variant_of" in entry:
                extra = sorted(set(entry) - {"variant_of", "selection"})
                if extra:
                    errors.append(
                        f"{where}: a variant shares its dataset's generation and execution;"
                        f" only selection may be set (not {', '.join(extra)})"
                    )
                datasets[name] = Dataset(name, "variant", entry["variant_of"], {})
            else:
                missing = [key for key in ("generator", "seedset") if key not in entry]
                if missing:
                    errors.append(
                        f"{where}: a generated dataset needs {' and '.join(missing)}"
                        " (or variant_of, or external)"
                    )
                    continue
                errors += self._ref(f"{where}.generator", entry["generator"], "models")
                errors += self._ref(f"{where}.seedset", entry["seedset"], "seedsets")
                settings = {
                    "generator": entry["generator"],
                    "seedset": entry["seedset"],
                    "pipeline": entry.get("pipeline", "s2c2i"),
                    "seed_kind": entry.get("seed_kind", "functions"),
                    "generation": section(entry, "generation"),
                    "execution": section(entry, "execution"),
                }
                datasets[name] = Dataset(name, "generated", name, settings)
        # Variants take their root's generation and execution, with their own selection.
        for name, dataset in list(datasets.items()):
            if dataset.kind == "variant":
                root = datasets.get(dataset.root)
                if root is None or root.kind != "generated":
                    errors.append(
                        f"datasets.{name}.variant_of: {dataset.root!r} is not a generated dataset"
                    )
                    datasets[name] = Dataset(name, "variant", dataset.root, {})
                    continue
                datasets[name] = Dataset(name, "variant", root.name, copy.deepcopy(root.settings))
            if dataset.kind in ("generated", "variant"):
                datasets[name].settings["selection"] = section(entries[name], "selection")
        for name, dataset in datasets.items():
            errors += self._check_selection(name, dataset, datasets)
        return datasets

    def _check_selection(
        self, name: str, dataset: Dataset, datasets: dict[str, Dataset]
    ) -> list[str]:
        if "selection" not in dataset.settings:
            return []
        selection = dataset.settings["selection"]
        where = f"datasets.{name}.selection"
        if selection["mode"] == "random_subset":
            target = selection["size_of"]
            if target is None:
                return [f"{where}.size_of: random_subset needs the dataset whose size it takes"]
            if target not in datasets or target == name:
                return [f"{where}.size_of: {target!r} is not another datasets entry"]
        elif selection["size_of"] is not None:
            return [f"{where}.size_of: only the random_subset mode takes a size"]
        return []

    def _check_trainings(self, raw: dict[str, Any]) -> list[str]:
        errors = [
            f"trainings.{name}.recipe.gpus: GPUs belong to the student"
            f" (models.{entry['student']}.gpus.training)"
            for name, entry in raw.items()
            if "gpus" in (entry.get("recipe") or {})
        ]
        for name, training in self.trainings.items():
            errors += self._ref(f"trainings.{name}.student", training["student"], "models")
            errors += self._ref(f"trainings.{name}.dataset", training["dataset"], "datasets")
        return errors

    def _check_tables(self) -> list[str]:
        errors = []
        for name, table in self.tables.items():
            where = f"tables.{name}"
            for benchmark in table["benchmarks"]:
                if benchmark not in self.evaluation["benchmarks"]:
                    errors.append(
                        f"{where}.benchmarks: {benchmark!r} is not in evaluation.benchmarks"
                    )
            if table["shape"] == "table8" and len(table["benchmarks"]) != 1:
                errors.append(f"{where}.benchmarks: a table8 matrix shows one benchmark")
            if table["prompt"] not in self.evaluation["prompts"]:
                errors.append(f"{where}.prompt: {table['prompt']!r} is not in evaluation.prompts")
            for index, row in enumerate(table["rows"]):
                row_name = row if isinstance(row, str) else row["name"]
                if row_name in self.trainings:
                    dataset = self.datasets.get(self.trainings[row_name]["dataset"])
                    if table["shape"] == "table8" and dataset and dataset.kind == "external":
                        errors.append(
                            f"{where}.rows[{index}]: {row_name!r} is tuned on external data;"
                            " a table8 column is the model that generated the data"
                        )
                    continue
                if row_name in self.models and table["shape"] in TABLE_SHAPES_WITH_MODELS:
                    continue
                kind = (
                    "training or model"
                    if table["shape"] in TABLE_SHAPES_WITH_MODELS
                    else "training"
                )
                errors.append(
                    f"{where}.rows[{index}]: {row_name!r} is no {kind}; every cell needs a"
                    " trainings entry behind it"
                )
        return errors

    # --- lookups ------------------------------------------------------------------------------

    def seed_roots(self) -> list[str]:
        """Seed sets that run the seed steps (not subsamples of another)."""
        return [name for name, s in self.seedsets.items() if s["subsample_of"] is None]

    def generator_of(self, dataset: str) -> str | None:
        entry = self.datasets[dataset]
        return None if entry.kind == "external" else entry.settings["generator"]

    def generated(self) -> list[str]:
        """Datasets that own a generation and an execution."""
        return [name for name, d in self.datasets.items() if d.kind == "generated"]

    def selected(self) -> list[str]:
        """Datasets made by selection (generated ones and their variants)."""
        return [name for name, d in self.datasets.items() if d.kind != "external"]

    def external(self) -> list[str]:
        return [name for name, d in self.datasets.items() if d.kind == "external"]

    def built_models(self) -> list[str]:
        """Models whose weights the workflow makes: trained here (build) or imported (gguf)."""
        return [name for name, m in self.models.items() if m["id"] is None]

    def models_from(self, source: str) -> list[str]:
        """Models whose weights come from ``source`` (one of MODEL_SOURCES)."""
        return [name for name, m in self.models.items() if m[source] is not None]

    def steps(self, dataset: str) -> dict[str, str]:
        """Generation steps of a dataset in pipeline order, with their prompt modes."""
        return PIPELINE_STEPS[self.datasets[dataset].settings["pipeline"]]

    def staged_models(self) -> list[str]:
        """Hub models, downloaded once on the submitting node (compute nodes may be offline)."""
        return [name for name, m in self.models.items() if m["id"] is not None]

    def model_path(self, name: str) -> str:
        """Where a model's weights are: the directory the workflow builds, imports or stages
        (a Hub model, downloaded at its revision)."""
        return f"{self.results}/base-models/{name}"

    def model_identity(self, name: str) -> dict[str, Any]:
        # Unset keys are left out, so a key the schema gains later changes no existing identity.
        model = self.models[name]
        return {key: model[key] for key in MODEL_IDENTITY_KEYS if model[key] is not None}

    def model_section(self, name: str) -> dict[str, Any]:
        """The model as the commands read it (config section ``model``)."""
        model = self.models[name]
        return {
            "name": self.model_path(name),
            "backend": model["backend"],
            "dtype": model["dtype"],
            # The directory holds the revision asked for (staged at its commit).
            "revision": None,
            "gpu_memory_utilization": model["gpu_memory_utilization"],
            "max_model_len": model["max_model_len"],
        }

    def gpus(self, model: str, stage: str) -> int:
        return self.models[model]["gpus"][stage]

    def recipe(self, training: str) -> dict[str, Any]:
        return self.trainings[training]["recipe"]

    def evaluated_models(self) -> list[str]:
        """Base models evaluated untuned: every student, and every model a table shows."""
        names = [t["student"] for t in self.trainings.values()]
        for table in self.tables.values():
            names += [row_name(row) for row in table["rows"] if row_name(row) in self.models]
        return list(dict.fromkeys(names))

    def evaluation_names(self) -> list[str]:
        return [*self.evaluated_models(), *self.trainings]


def row_name(row: str | dict[str, Any]) -> str:
    return row if isinstance(row, str) else row["name"]
