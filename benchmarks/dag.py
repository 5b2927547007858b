"""How long Snakemake takes to plan the paper's experiment matrix (dry runs).

Goal: the Table 8 dry run (525 jobs) under 5 s on a 2-core machine. Each config is planned
a few times, in an empty working directory, and compared with the same Snakemake starting
on a one-rule workflow in the same run (its own start-up cost), so the ratio shows what the
matrix's own DAG costs on whatever machine this runs on.

    python benchmarks/dag.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from report import section, table, timed, write_figures

REPO = Path(__file__).resolve().parents[1]
CONFIGS = {
    "demo (2x2)": ["config/demo.yaml"],
    "table 8": ["config/paper/table8.yaml"],
    "all paper tables": [],
}
BASELINE = 'rule all:\n    output: "x"\n    shell: "touch {output}"\n'


def dry_run(snakefile: Path, workdir: Path, configfiles: list[str]) -> int:
    args = ["--configfile", *(str(REPO / c) for c in configfiles)] if configfiles else []
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--snakefile", str(snakefile),
         "--directory", str(workdir), *args],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    jobs = re.search(r"^total\s+(\d+)$", proc.stdout + proc.stderr, re.M)
    return int(jobs.group(1)) if jobs else 1


def median_time(repeats: int, fn) -> tuple[float, int]:
    runs = [timed(fn) for _ in range(repeats)]
    return statistics.median(t for t, _ in runs), runs[0][1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "config").symlink_to(REPO / "config")
        baseline_dir = work / "baseline"
        baseline_dir.mkdir()
        (baseline_dir / "Snakefile").write_text(BASELINE)
        base_s, _ = median_time(
            args.repeats, lambda: dry_run(baseline_dir / "Snakefile", baseline_dir, [])
        )
        rows, figures = [], {"baseline_s": base_s, "configs": {}}
        for name, configs in CONFIGS.items():
            seconds, jobs = median_time(
                args.repeats, lambda c=configs: dry_run(REPO / "Snakefile", work, c)
            )
            rows.append([name, jobs, seconds, f"{seconds / base_s:.1f}x", 1000 * seconds / jobs])
            figures["configs"][name] = {"jobs": jobs, "seconds": seconds}
    section(f"dry run (median of {args.repeats})")
    print(f"baseline: a one-rule workflow plans in {base_s:.2f} s")
    print(table(["config", "jobs", "seconds", "vs baseline", "ms/job"], rows))
    write_figures("benchmarks/out/dag.json", figures)


if __name__ == "__main__":
    main()
