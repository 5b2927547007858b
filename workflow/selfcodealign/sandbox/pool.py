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
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from queue import Queue

from selfcodealign.jsonl import batched
from selfcodealign.sandbox.isolation import bwrap_command, pids_cgroup_root, require

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
        self._pending = bytearray()  # reply bytes read but not yet returned
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
        self._pending = bytearray()
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
        """The next reply line, or ``None`` on EOF or after ``timeout`` seconds of silence.

        Reads the pipe's descriptor into a buffer of its own: ``select`` on a buffered file
        object misses lines that an earlier ``readline`` already pulled into its buffer, and
        then waits for the timeout while the reply sits there.
        """
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._pending:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([fd], [], [], max(left, 0))
            if not ready:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self._pending += chunk
        end = self._pending.index(b"\n")
        line = bytes(self._pending[:end])
        del self._pending[: end + 1]
        return json.loads(line)

    def run_batch(self, items: list[tuple[str, str]]) -> list[dict]:
        """Run programs back to back on this worker; one round trip per batch, not per program.

        Replies stream back one per program, so when the zygote dies the program that killed
        it is known: it gets ``crashed`` and the rest of the batch runs on a fresh zygote.
        """
        requests = "".join(
            json.dumps({"id": pid, "code": code, **asdict(self.limits)}) + "\n"
            for pid, code in items
        )
        results: list[dict] = []
        started = time.monotonic()
        try:
            self.process.stdin.write(requests)
            self.process.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass  # the replies below tell which program was lost
        for program_id, _code in items:
            try:
                reply = self._read(timeout=self.limits.timeout_s + 30)
            except (OSError, ValueError):
                reply = None
            if reply is None:  # the zygote died or hung: this program pays, the run goes on
                results.append(_crashed(program_id, time.monotonic() - started))
                self.restart()
                return results + self.run_batch(items[len(results) :])
            results.append(reply)
            started = time.monotonic()
        return results

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


def _crashed(program_id: str, seconds: float) -> dict:
    return {
        "id": program_id,
        "passed": False,
        "status": "crashed",
        "detail": "the sandbox worker died while running this program",
        "duration_s": round(seconds, 4),
        "output": "",
    }


class SandboxPool:
    def __init__(
        self,
        workers: int,
        limits: Limits,
        isolation: str = "auto",
        allow_unisolated: bool = False,
    ):
        # Refuse before any worker starts: an unisolated run must be asked for.
        self.isolation = require(isolation, allow_unisolated)
        self.limits = limits
        self._idle: Queue[Worker] = Queue()
        self._workers = [Worker(self.isolation, limits) for _ in range(max(workers, 1))]
        for worker in self._workers:
            self._idle.put(worker)
        self._executor = ThreadPoolExecutor(len(self._workers))

    # Programs per round trip: replies of a batch (at most ~4.5 KB each) must fit in a pipe
    # buffer (64 KB) while the parent is still writing the batch's requests.
    BATCH = 8

    def _run_batch(self, items: list[tuple[str, str]]) -> list[dict]:
        worker = self._idle.get()
        try:
            return worker.run_batch(items)
        finally:
            self._idle.put(worker)

    def run(self, programs: Iterable[tuple[str, str]], chunk: int = 256) -> Iterator[dict]:
        """Results of ``(id, code)`` programs, in input order, streaming in chunks."""
        for block in batched(programs, chunk):
            # Small batches spread over the workers; map keeps their order.
            size = max(1, min(self.BATCH, len(block) // len(self._workers)))
            for results in self._executor.map(self._run_batch, list(batched(block, size))):
                yield from results

    def close(self) -> None:
        self._executor.shutdown()
        for worker in self._workers:
            worker.close()

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
