"""Benchmark how libgomp's spin-wait setting moves a CPU job on cores that other work shares.

Run from the repository root (about 5 min on a 2-core machine):

    .venv/bin/python benchmarks/omp_spin.py
    .venv/bin/python benchmarks/omp_spin.py --spincount 1000 --repeats 3 --json /tmp/omp.json

The job is the demo model's build (``selfcodealign instruct demo-model``, torch on CPU with
``--threads`` OpenMP threads), shortened to ``--steps`` optimizer steps. It runs on an idle
machine and beside ``--load`` busy processes (as ``stress --cpu N`` loads a machine), each
time with libgomp's default spin (``GOMP_SPINCOUNT`` unset: 300,000 rounds before a waiting
thread sleeps) and with each ``--spincount`` (the Makefile sets 1000 for its targets). Each
setting runs ``--repeats`` times, the settings taking turns so that a drift in the machine's
load hits all alike. It prints each setting's median wall time and its ratio to the idle
machine's default spin, measured in the same run. It asserts nothing about timings: the
figures are for reading.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def build_seconds(steps: int, threads: int, spincount: int | None, workdir: Path) -> float:
    # the model's size comes from the schema's defaults, which the command fills in
    settings = {"steps": steps, "learning_rate": 0.005, "seed": 3407, "shots": {"s2i": 0, "i2r": 0}}
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    env.pop("GOMP_SPINCOUNT", None)
    if spincount is not None:
        env["GOMP_SPINCOUNT"] = str(spincount)
    command = [sys.executable, "-m", "selfcodealign", "instruct", "demo-model"]
    command += ["--settings", json.dumps(settings), "--shots", json.dumps(settings["shots"])]
    command += ["--seed", "7", "--output", str(workdir / "model")]
    start = time.monotonic()
    subprocess.run(command, env=env, check=True, capture_output=True)
    return time.monotonic() - start


def busy_processes(count: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--load", type=int, default=os.cpu_count(), help="busy processes")
    parser.add_argument("--spincount", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    settings = [None, *args.spincount]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for loaded in (False, True):
            seconds: dict[int | None, list[float]] = {spin: [] for spin in settings}
            load = busy_processes(args.load) if loaded else []
            try:
                for _ in range(args.repeats):
                    for spin in settings:
                        seconds[spin].append(
                            build_seconds(args.steps, args.threads, spin, Path(tmp))
                        )
            finally:
                for process in load:
                    process.kill()
                    process.wait()
            for spin in settings:
                median = statistics.median(seconds[spin])
                rows.append(
                    {
                        "loaded": loaded,
                        "spincount": spin,
                        "seconds": seconds[spin],
                        "median": median,
                    }
                )
    baseline = rows[0]["median"]
    print(f"demo-model build, {args.steps} steps, {args.threads} threads, load {args.load}")
    print(f"median of {args.repeats}")
    print(f"{'machine':<8} {'GOMP_SPINCOUNT':>15} {'seconds':>8} {'x idle default':>15}")
    for row in rows:
        row["ratio"] = row["median"] / baseline
        spin = "default" if row["spincount"] is None else str(row["spincount"])
        machine = "loaded" if row["loaded"] else "idle"
        print(f"{machine:<8} {spin:>15} {row['median']:>8.1f} {row['ratio']:>15.2f}")
    if args.json:
        args.json.write_text(json.dumps({"settings": vars(args) | {"json": None}, "runs": rows}))


if __name__ == "__main__":
    main()
