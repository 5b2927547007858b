"""The warm interpreter: preloads common modules once, then forks one child per program.

Speaks one JSON line per request on stdin and one JSON line per result on stdout. Each child
gets its own session, a fresh temporary directory, a scrubbed environment, closed stdin,
resource limits, and (when running as root) the ``nobody`` user. The zygote kills the
child's whole process group when it ends or its wall clock runs out, and, inside a private PID
namespace, every process it left behind.
"""

from __future__ import annotations

import contextlib
import json
import linecache
import os
import resource
import secrets
import select
import shutil
import signal
import sys
import tempfile
import time
import types

from selfcodealign.sandbox import unittest_outcome

# Modules generated code imports most, imported once here so they are free in every child.
# Each preloaded module also makes every fork slower (page tables to copy): heavy, rarely used
# ones (unittest, decimal, statistics: +0.7 ms a fork together) are left to the programs.
PRELOAD = [
    "bisect",
    "collections",
    "copy",
    "dataclasses",
    "datetime",
    "functools",
    "heapq",
    "itertools",
    "json",
    "math",
    "random",
    "re",
    "string",
    "traceback",
    "typing",
]

NOBODY = 65534
NOBODY_MAPPED = False
KEEP = frozenset(filter(None, os.environ.get("SCA_SANDBOX_KEEP", "").split(":")))
CRASH_SIGNALS = {signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE, signal.SIGABRT}
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"


def _limit(kind: int, soft: int, hard: int | None = None) -> None:
    """Lower a resource limit, never above the existing hard limit."""
    current_soft, current_hard = resource.getrlimit(kind)
    cap = current_hard if current_hard != resource.RLIM_INFINITY else None
    hard = soft if hard is None else hard
    if cap is not None:
        soft, hard = min(soft, cap), min(hard, cap)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(kind, (soft, hard))


def _mapped(uid: int) -> bool:
    """Whether ``uid`` exists in this user namespace (bubblewrap maps only root when run as root;
    there the namespaces isolate and the program stays root inside them)."""
    with open("/proc/self/uid_map") as handle:
        for line in handle:
            inside, _outside, count = (int(x) for x in line.split())
            if inside <= uid < inside + count:
                return True
    return False


def _report(result_fd: int, status: str, detail: str, nonce: str) -> None:
    with contextlib.suppress(BaseException):
        message = {"status": status, "detail": detail, "nonce": nonce}
        os.write(result_fd, json.dumps(message).encode())


def _child(request: dict, workdir: str, out_fd: int, result_fd: int, nonce: str) -> None:
    """Runs in the forked child; never returns."""
    try:
        _confine(request, workdir, out_fd, result_fd)
    except BaseException as error:  # never run a program half-confined
        detail = f"sandbox set-up failed: {type(error).__name__}: {error}"
        _report(result_fd, "crashed", detail, nonce)
        os._exit(71)
    _execute(request["code"], result_fd, nonce)


def _confine(request: dict, workdir: str, out_fd: int, result_fd: int) -> None:
    os.setsid()
    stdin = os.open(os.devnull, os.O_RDONLY)
    os.dup2(stdin, 0)
    os.dup2(out_fd, 1)
    os.dup2(out_fd, 2)
    os.closerange(3, result_fd)
    os.closerange(result_fd + 1, 4096)
    if os.geteuid() == 0 and NOBODY_MAPPED:
        os.chown(workdir, NOBODY, NOBODY)
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    os.chdir(workdir)
    memory = request["memory_mb"] * 1024 * 1024
    timeout = int(request["timeout_s"])
    _limit(resource.RLIMIT_AS, memory)
    _limit(resource.RLIMIT_DATA, memory)
    _limit(resource.RLIMIT_CPU, timeout + 1, timeout + 2)
    _limit(resource.RLIMIT_NPROC, request["max_processes"])
    _limit(resource.RLIMIT_FSIZE, request["max_file_mb"] * 1024 * 1024)
    _limit(resource.RLIMIT_NOFILE, 256)
    _limit(resource.RLIMIT_CORE, 0)
    # The zygote's own environment is already scrubbed by the pool (PATH and LANG only).
    for name in [n for n in os.environ if n not in ("PATH", "LANG")]:
        del os.environ[name]
    os.environ.update(HOME=workdir, TMPDIR=workdir)
    tempfile.tempdir = workdir


def _execute(code: str, result_fd: int, nonce: str) -> None:
    me = os.getpid()
    status, detail = "passed", ""
    # A real __main__ module, as `python program.py` has: pickling, inspect, doctest and
    # unittest.main() look the program up there.
    main = types.ModuleType("__main__")
    main.__builtins__ = __builtins__
    sys.modules["__main__"] = main
    sys.argv = ["<program>"]
    linecache.cache["<program>"] = (len(code), None, code.splitlines(True), "<program>")
    tests = unittest_outcome.watch(code)
    try:
        exec(compile(code, "<program>", "exec"), main.__dict__)
        if tests.any_failed():  # unittest.main(exit=False) or a runner of its own
            status, detail = "failed", "a unittest run failed"
    except SystemExit as leave:
        if tests.raised_by_main(leave):
            status = "passed" if tests.passed() else "failed"
            detail = "" if tests.passed() else f"unittest runs (tests, ok): {tests.runs}"
        else:
            status = "early_exit" if leave.code in (None, 0) else "failed"
            detail = f"SystemExit({leave.code!r}) before the program's end"
    except MemoryError:
        status, detail = "memory", "MemoryError"
    except BaseException as error:  # an assert, any exception: the program failed
        status, detail = "failed", f"{type(error).__name__}: {error}"[:500]
        with contextlib.suppress(BaseException):
            import traceback

            traceback.print_exc()
    with contextlib.suppress(BaseException):
        sys.stdout.flush()
        sys.stderr.flush()
    if os.getpid() == me:  # a copy made by the program's own fork() does not report
        _report(result_fd, status, detail, nonce)
    # _exit: no atexit handlers, no waiting for threads the program left running.
    os._exit(0)


def _sweep_namespace() -> None:
    """In the worker's private namespaces: kill every process but init and this zygote, and
    empty the private /tmp and /dev/shm, so nothing of one program reaches the next."""
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) not in (1, me):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry), signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    for shared in ("/tmp", "/dev/shm"):
        with contextlib.suppress(OSError):
            for entry in os.scandir(shared):
                if entry.path in KEEP:  # the interpreter or package, bound back read-only
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)


def _classify(wait_status: int, result: bytes, timed_out: bool, nonce: str) -> tuple[str, str]:
    if timed_out:
        return "timeout", "wall-clock limit reached"
    if result:
        # Exactly one report, carrying this run's nonce: a program that writes its own
        # "passed" into the channel is caught here.
        try:
            reported = json.loads(result)
        except ValueError:
            return "crashed", "the result channel held something else than one report"
        if reported.get("nonce") != nonce:
            return "crashed", "a result that the sandbox did not write"
        return reported["status"], reported["detail"]
    if os.WIFSIGNALED(wait_status):
        sig = os.WTERMSIG(wait_status)
        if sig == signal.SIGXCPU:
            return "timeout", "CPU-time limit reached"
        name = signal.Signals(sig).name
        if sig in CRASH_SIGNALS:
            return "crashed", f"killed by {name}"
        return "early_exit", f"killed by {name} before the program's end"
    code = os.WEXITSTATUS(wait_status)
    if code == 0:
        return "early_exit", "exited with status 0 before the program's end"
    return "failed", f"exited with status {code}"


def run_program(request: dict, sweep: bool) -> dict:
    workdir = tempfile.mkdtemp(prefix="prog-")
    out_r, out_w = os.pipe()
    result_r, result_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    nonce = secrets.token_hex(16)
    started = time.monotonic()
    pid = _fork(started + 5)
    if pid is None:
        for fd in (out_r, out_w, result_r, result_w):
            os.close(fd)
        shutil.rmtree(workdir, ignore_errors=True)
        return _result(request, "crashed", "could not start the program (no free process)", 0, b"")
    if pid == 0:
        try:
            os.close(out_r)
            os.close(result_r)
            _child(request, workdir, out_w, result_w, nonce)
        finally:
            os._exit(70)
    os.close(out_w)
    os.close(result_w)
    keep = request["output_bytes"]
    output, result = bytearray(), bytearray()
    deadline = started + request["timeout_s"]
    wait_status, timed_out, open_fds = None, False, {out_r, result_r}
    while True:
        if wait_status is None:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                wait_status = status
                # The program is over: take what is already in the pipes, then stop.
                deadline = min(deadline, time.monotonic() + 0.05)
        now = time.monotonic()
        if now >= deadline:
            if wait_status is None:
                timed_out = True
            break
        if not open_fds:
            if wait_status is not None:
                break
            time.sleep(0.001)
            continue
        ready, _, _ = select.select(list(open_fds), [], [], min(deadline - now, 0.01))
        for fd in ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                open_fds.discard(fd)
            elif fd == out_r:
                output += chunk
                del output[:-keep]
            else:
                result += chunk
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    if wait_status is None:
        _, wait_status = os.waitpid(pid, 0)
    if sweep:
        _sweep_namespace()
    os.close(out_r)
    os.close(result_r)
    shutil.rmtree(workdir, ignore_errors=True)
    status, detail = _classify(wait_status, bytes(result), timed_out, nonce)
    return _result(request, status, detail, time.monotonic() - started, output)


def _fork(deadline: float) -> int | None:
    """fork(), waiting a little while the last program's processes are still being reaped."""
    while True:
        try:
            return os.fork()
        except BlockingIOError:
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)


def _result(request: dict, status: str, detail: str, seconds: float, output: bytes) -> dict:
    return {
        "id": request["id"],
        "passed": status == "passed",
        "status": status,
        "detail": detail,
        "duration_s": round(seconds, 4),
        "output": bytes(output).decode("utf-8", "replace"),
    }


def main() -> None:
    global NOBODY_MAPPED
    NOBODY_MAPPED = _mapped(NOBODY)  # read once: it cannot change while the zygote lives
    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            __import__(name)
    sweep = os.environ.get("SCA_SANDBOX_PIDNS") == "1"
    # Children must not inherit a stdin/stdout that is our protocol channel.
    channel_in = os.fdopen(os.dup(0), "r", encoding="utf-8")
    channel_out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    channel_out.write(json.dumps({"ready": True, "pid": os.getpid()}) + "\n")
    channel_out.flush()
    for line in channel_in:
        result = run_program(json.loads(line), sweep)
        channel_out.write(json.dumps(result) + "\n")
        channel_out.flush()


if __name__ == "__main__":
    main()
