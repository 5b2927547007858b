"""Parent side of the sandbox: a pool of warm zygote workers, results in input order.

A worker that dies (a program killed its zygote, say) costs that program a ``crashed``
result; the worker is restarted and the run goes on.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from queue import Queue

from selfcodealign.sandbox.isolation import bwrap_command, detect, pids_cgroup_root

PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 10.0
    memory_mb: int = 4096
    max_processes: int = 256
    max_file_mb: int = 64
    output_bytes: int = 4096
    tmp_mb: int = 512  # size of each worker's private /tmp under bubblewrap


class Worker:
    """One zygote process and its JSON-lines channel."""

    def __init__(self, isolation: str, limits: Limits):
        self.isolation = isolation
        self.limits = limits
        self.process: subprocess.Popen | None = None
        self.cgroup: str | None = None
        self.start()

    def start(self) -> None:
        command = [
            sys.executable,
            "-I",
            "-c",
            "from selfcodealign.sandbox.zygote import main; main()",
        ]
        # -I ignores PYTHONPATH; pass the package path through sys.path instead.
        command[-1] = f"import sys; sys.path.insert(0, {PACKAGE_ROOT!r}); " + command[-1]
        if self.isolation == "bwrap":
            command = [*bwrap_command(self.limits.tmp_mb), *command]
        self.cgroup = self._make_cgroup()
        if self.cgroup:
            # The launcher joins the cgroup, then becomes the worker: nothing starts outside it.
            command = [
                "/bin/sh",
                "-c",
                'echo $$ > "$0/cgroup.procs" && exec "$@"',
                self.cgroup,
                *command,
            ]
        # The zygote itself gets no secrets either: only what Python needs to start.
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
            start_new_session=True,
        )
        ready = self._read(timeout=60)
        if not ready or not ready.get("ready"):
            raise RuntimeError(f"sandbox worker failed to start ({self.isolation})")

    def _make_cgroup(self) -> str | None:
        root = pids_cgroup_root()
        if root is None:
            return None
        path = os.path.join(root, f"selfcodealign-{os.getpid()}-{id(self)}")
        try:
            os.makedirs(path, exist_ok=True)
            with open(os.path.join(path, "pids.max"), "w") as handle:
                # the program's processes, plus bwrap, its init and the zygote
                handle.write(str(self.limits.max_processes + 3))
        except OSError:
            return None
        return path

    def _read(self, timeout: float) -> dict | None:
        stdout = self.process.stdout
        ready, _, _ = select.select([stdout], [], [], timeout)
        if not ready:
            return None
        line = stdout.readline()
        return json.loads(line) if line else None

    def run(self, program_id: str, code: str) -> dict:
        request = {"id": program_id, "code": code, **asdict(self.limits)}
        started = time.monotonic()
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
            reply = self._read(timeout=self.limits.timeout_s + 30)
        except (BrokenPipeError, OSError, ValueError):
            reply = None
        if reply is None:  # the zygote died or hung: the program pays, the run goes on
            self.restart()
            return {
                "id": program_id,
                "passed": False,
                "status": "crashed",
                "detail": "the sandbox worker died while running this program",
                "duration_s": round(time.monotonic() - started, 4),
                "output": "",
            }
        return reply

    def restart(self) -> None:
        self.close()
        self.start()

    def close(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
        if self.process:
            self.process.wait()
        if self.cgroup:
            # The zygote's death (--die-with-parent) ends the rest; the cgroup must be empty.
            for _ in range(50):
                try:
                    os.rmdir(self.cgroup)
                    break
                except OSError:
                    time.sleep(0.1)
            self.cgroup = None


class SandboxPool:
    def __init__(self, workers: int, limits: Limits, isolation: str = "auto"):
        self.isolation = detect(isolation)
        self.limits = limits
        self._idle: Queue[Worker] = Queue()
        self._workers = [Worker(self.isolation, limits) for _ in range(max(workers, 1))]
        for worker in self._workers:
            self._idle.put(worker)
        self._executor = ThreadPoolExecutor(len(self._workers))
        self._lock = threading.Lock()

    def _run_one(self, item: tuple[str, str]) -> dict:
        worker = self._idle.get()
        try:
            return worker.run(*item)
        finally:
            self._idle.put(worker)

    def run(self, programs: Iterable[tuple[str, str]], chunk: int = 256) -> Iterator[dict]:
        """Results of ``(id, code)`` programs, in input order, streaming in chunks."""
        batch: list[tuple[str, str]] = []
        for program in programs:
            batch.append(program)
            if len(batch) == chunk:
                yield from self._executor.map(self._run_one, batch)
                batch = []
        if batch:
            yield from self._executor.map(self._run_one, batch)

    def close(self) -> None:
        self._executor.shutdown()
        for worker in self._workers:
            worker.close()

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
