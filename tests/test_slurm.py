"""The seed stage through a real (throwaway, single-node) SLURM cluster with profiles/slurm.

Skipped where SLURM cannot be installed or started (not root, no apt-get, daemons fail).
The cluster has no accounting, so the executor checks jobs with squeue; everything else comes
from the repository's profile, as a user on a real cluster would run it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml
from conftest import copy_workflow
from slurm_cluster import ClusterUnavailable, start_cluster

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "profiles" / "slurm"
# What a user copies along with the workflow (the profile is used from the repository).
EXPERIMENT = "slurm-test"
# The rules ask for up to 64 GB (seeds_dedup). The daemons enforce nothing here, so the node
# pretends to have this much memory; CPUs are the machine's, and --max-threads caps rules.
NODE_MEM_MB = 1_000_000
TIMEOUT_S = 300

SEED_FILES = {
    "numbers.py": '''
        def clamp(value: float, low: float, high: float) -> float:
            """Limit a value to the closed interval from low to high.

            >>> clamp(5.0, 0.0, 3.0)
            3.0
            """
            return max(low, min(high, value))


        def digit_sum(number: int) -> int:
            """Add up the decimal digits of a non-negative integer.

            >>> digit_sum(1234)
            10
            """
            total = 0
            while number > 0:
                number, digit = divmod(number, 10)
                total += digit
            return total
        ''',
    "text.py": '''
        def count_vowels(word: str) -> int:
            """Count the vowels (a, e, i, o, u, either case) in a word.

            >>> count_vowels("Snakemake")
            4
            """
            return sum(1 for letter in word.lower() if letter in "aeiou")


        def title_words(sentence: str, minimum: int) -> str:
            """Capitalise every word of a sentence that is at least minimum letters long."""
            words = [w.capitalize() if len(w) >= minimum else w for w in sentence.split(" ")]
            return " ".join(words)
        ''',
    "lists.py": '''
        def chunk_pairs(items: list[int], size: int) -> list[list[int]]:
            """Split a list into consecutive chunks of the given size; the last may be shorter.

            >>> chunk_pairs([1, 2, 3, 4, 5], 2)
            [[1, 2], [3, 4], [5]]
            """
            return [items[i : i + size] for i in range(0, len(items), size)]


        def running_maximum(values: list[float]) -> list[float]:
            """Return, for each position, the largest value seen up to and including it."""
            result: list[float] = []
            for value in values:
                result.append(value if not result else max(result[-1], value))
            return result
        ''',
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


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A copy of the workflow, so the run's results never touch the repository."""
    return copy_workflow(tmp_path)


def write_config(workdir: Path, seeds_dir: Path) -> Path:
    config = {
        # The seed stage needs no model; the config needs one entry.
        "models": {"unused": {"id": "unused", "backend": "transformers"}},
        "seedsets": {
            EXPERIMENT: {
                "source": {"kind": "local", "path": str(seeds_dir)},
                "shards": 2,
                "decontamination": {"humaneval": "builtin", "mbpp": None},
                "judge": {"model": None},
            }
        },
    }
    path = workdir / "slurm-test.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_seed_stage_runs_through_slurm(slurm_cluster, workdir: Path, tmp_path_factory):
    seeds_dir = tmp_path_factory.mktemp("seed-sources")
    for name, code in SEED_FILES.items():
        (seeds_dir / name).write_text(textwrap.dedent(code).lstrip())
    configfile = write_config(workdir, seeds_dir)

    command = [
        "snakemake",
        "--profile",
        str(PROFILE),
        "--configfile",
        str(configfile),
        # What differs from a real cluster: no accounting (so squeue, not sacct; with no
        # account given the plugin fails to guess one and submits without), a small node, a
        # local disk. A job here ends about 6 s after its submission: the first status check
        # comes at 8 s (each check that finds nothing finished adds 10 s to the next wait).
        # Per-job SLURM logs are kept, to check them.
        "--slurm-status-command",
        "squeue",
        "--slurm-init-seconds-before-status-checks",
        "8",
        "--slurm-keep-successful-logs",
        "--jobs",
        "2",
        "--max-threads",
        str(slurm_cluster.cpus),
        "--latency-wait",
        "5",
        "--retries",
        "0",
        # The seed stage only: generation needs a model.
        f"results/seeds/{EXPERIMENT}/seeds.jsonl",
        f"results/seeds/{EXPERIMENT}/funnel.json",
    ]
    # Jobs inherit this environment (sbatch --export=ALL): this interpreter's bin comes first.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = slurm_cluster.environ({**os.environ, "PATH": path})
    start = time.monotonic()
    try:
        result = subprocess.run(
            command,
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as err:
        pytest.fail(
            f"snakemake ran past {TIMEOUT_S} s\n{err.stderr}\n"
            + slurm_cluster.run("squeue", "--states=all").stdout
            + slurm_cluster.logs()
        )
    elapsed = time.monotonic() - start
    report = f"{result.stdout}\n{result.stderr[-8000:]}\n{slurm_cluster.logs()}"
    assert result.returncode == 0, report

    seeds_out = workdir / "results" / "seeds" / EXPERIMENT
    seeds = seeds_out / "seeds.jsonl"
    funnel = seeds_out / "funnel.json"
    assert seeds.is_file() and seeds.stat().st_size > 0, report
    assert funnel.is_file() and funnel.stat().st_size > 0, report
    rows = [json.loads(line) for line in seeds.read_text().splitlines() if line.strip()]
    assert rows, report
    json.loads(funnel.read_text())

    # The jobs really ran as SLURM jobs: slurmctld gave the node to each one, the executor
    # kept a per-job log for each, and none was run on this machine outside SLURM.
    allocated = slurm_cluster.allocated_jobs()
    logdir = workdir / ".snakemake" / "slurm_logs"
    slurm_logs = sorted(logdir.rglob("*.log"))
    rules = {path.relative_to(logdir).parts[0] for path in slurm_logs}
    expected_rules = {
        "rule_seeds_plan",
        "rule_seeds_extract",
        "rule_seeds_benchmark_texts",
        "rule_seeds_filter",
        "rule_seeds_dedup",
        "rule_seeds_gather",
    }
    assert expected_rules <= rules, f"per-rule SLURM logs: {sorted(rules)}\n{report}"
    assert len(allocated) >= len(slurm_logs) >= len(expected_rules) + 2, report
    queue = slurm_cluster.run("squeue", "--states=all", "--noheader", "--format=%i|%j|%T")
    states = [line.split("|")[-1] for line in queue.stdout.split()]
    assert states and set(states) == {"COMPLETED"}, queue.stdout
    # Only the target rule `all` (no action) may run on the submitting machine.
    assert "localrule seeds_" not in result.stdout + result.stderr, report
    print(f"{len(allocated)} SLURM jobs, snakemake took {elapsed:.0f} s")
