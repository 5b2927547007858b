"""The paper's generation ablations: S->I prompts and random-snippet seeds."""

from __future__ import annotations

import re
import subprocess
import sys

import yaml
from conftest import REPO, snakemake_env
from selfcodealign.instruct.snippets import random_snippets
from selfcodealign.seeds.sources import SourceFile


def _file(name: str, lines: int) -> SourceFile:
    text = "".join(f"line_{i} = {i}\n" for i in range(lines))
    return SourceFile("local", name, text.encode())


def test_snippets_are_5_to_30_line_windows_as_many_as_asked():
    files = [_file(f"f{i}.py", 10 + 7 * i) for i in range(40)]
    files.insert(3, _file("short.py", 3))
    files.insert(5, SourceFile("local", "gone.py", None, "OSError"))
    snippets = list(random_snippets(files, count=25, seed=3407))
    assert len(snippets) == 25
    assert "short.py" not in {s["path"] for s in snippets}
    for snippet in snippets:
        lines = snippet["seed"].splitlines()
        assert 5 <= len(lines) <= 30
        # a contiguous window of the file, starting at lineno
        first = int(lines[0].split(" = ")[1])
        assert first == snippet["lineno"] - 1
        assert [int(line.split(" = ")[1]) for line in lines] == list(
            range(first, first + len(lines))
        )
    assert snippets == list(random_snippets(files, count=25, seed=3407))
    assert snippets != list(random_snippets(files, count=25, seed=1))


def _dry_run(tmp_path, **dataset) -> str:
    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    config["datasets"]["smollm2-data"].update(dataset)
    path = tmp_path / "ablation.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--configfile", str(path), "--cores", "1",
         "--directory", str(tmp_path), "--snakefile", str(REPO / "Snakefile")],
        capture_output=True, text=True, env=snakemake_env(),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def _job_io(text: str) -> list[tuple[str, str]]:
    """(input, output) of each planned job."""
    return re.findall(r"^\s+input: (.*)\n\s+output: (.*)$", text, re.M)


GENERATION = "results/data/smollm2-data/generation"


def test_seed_to_instruction_skips_concepts(tmp_path):
    jobs = _job_io(_dry_run(tmp_path, pipeline="s2i"))
    outputs = " ".join(out for _, out in jobs)
    assert f"{GENERATION}/concepts" not in outputs
    # the other dataset keeps the method's pipeline
    assert "results/data/tiny-data/generation/concepts" in outputs
    instruction_inputs = [i for i, o in jobs if f"{GENERATION}/instructions/shard-0" in o]
    assert instruction_inputs and "results/seeds/stdlib/seeds.jsonl" in instruction_inputs[0]


def test_snippet_seeds_feed_the_first_step(tmp_path):
    jobs = _job_io(_dry_run(tmp_path, seed_kind="snippets"))
    concept_inputs = [i for i, o in jobs if f"{GENERATION}/concepts/shard-0" in o]
    assert concept_inputs and "results/seeds/stdlib/snippets.jsonl" in concept_inputs[0]
    assert any(o.endswith("results/seeds/stdlib/snippets.jsonl") for _, o in jobs)
