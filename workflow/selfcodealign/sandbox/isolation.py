"""Which isolation is available: bubblewrap, the rule's Apptainer container, or processes only.

bubblewrap gives each worker a read-only view of the file system (a private, size-limited
/tmp), no network, and private PID/IPC/UTS namespaces. Inside an Apptainer container, the
container provides the file-system and network isolation (the cluster profile runs it with
``--containall --net --network none``). Without either, programs still get their own session,
limits and user, but can read the file system and reach the network: the sandbox refuses that
unless asked explicitly.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from functools import cache

BWRAP_FLAGS = [
    "--unshare-all",  # network, PID, IPC, UTS, user and cgroup namespaces
    "--cap-drop", "ALL",  # even as root inside: no remounting, no raising limits
    "--die-with-parent",
    "--new-session",
    "--ro-bind", "/", "/",
    "--dev", "/dev",
    "--proc", "/proc",
]  # fmt: skip


def paths_under_tmp() -> list[str]:
    """Where this interpreter and package live, when that is under /tmp (a checkout or venv
    there): the private /tmp would hide them, so they are bound back, read-only."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    wanted = {
        sys.prefix,
        sys.base_prefix,
        os.path.dirname(os.path.realpath(sys.executable)),
        package,
    }
    kept = set()
    for path in wanted:
        real = os.path.realpath(path)
        if real.startswith("/tmp/"):
            kept.add("/tmp/" + real.split("/")[2])  # the top-level entry under /tmp
    return sorted(kept)


def bwrap_command(tmp_mb: int) -> list[str]:
    keep = paths_under_tmp()
    rebinds = [arg for path in keep for arg in ("--ro-bind", path, path)]
    return [
        shutil.which("bwrap") or "bwrap",
        *BWRAP_FLAGS,
        "--size", str(tmp_mb * 1024 * 1024),
        "--tmpfs", "/tmp",
        *rebinds,
        "--size", str(16 * 1024 * 1024),  # bwrap's /dev/shm would be half the RAM otherwise
        "--tmpfs", "/dev/shm",
        "--setenv", "SCA_SANDBOX_PIDNS", "1",
        "--setenv", "SCA_SANDBOX_KEEP", ":".join(keep),
    ]  # fmt: skip


@cache
def bwrap_works() -> bool:
    """bubblewrap is installed and can create its namespaces here (not all hosts allow it)."""
    if not shutil.which("bwrap"):
        return False
    probe = subprocess.run(
        [*bwrap_command(16), sys.executable, "-I", "-c", "pass"],
        capture_output=True,
        timeout=60,
    )
    return probe.returncode == 0


def in_container() -> bool:
    return any(os.environ.get(v) for v in ("APPTAINER_CONTAINER", "SINGULARITY_CONTAINER"))


def detect(prefer: str = "auto") -> str:
    """``bwrap``, ``apptainer`` or ``process`` (no file-system or network isolation)."""
    if prefer in ("auto", "bwrap") and bwrap_works():
        return "bwrap"
    if prefer == "bwrap":
        raise RuntimeError("bubblewrap was asked for but cannot run here (is `bwrap` installed?)")
    if in_container():
        return "apptainer"
    return "process"


class UnisolatedError(RuntimeError):
    """Neither bubblewrap nor a container isolates programs, and that was not allowed."""


def require(prefer: str = "auto", allow_unisolated: bool = False) -> str:
    """The isolation to use; refuses process limits alone unless explicitly allowed."""
    isolation = detect(prefer)
    if isolation == "process" and not allow_unisolated:
        raise UnisolatedError(
            "no file-system or network isolation here (bubblewrap cannot run and this is not "
            "an Apptainer container); install bubblewrap or run inside the container"
        )
    return isolation


def pids_cgroup_root() -> str | None:
    """A writable cgroup directory with the ``pids`` controller, if this host offers one.

    A per-worker pids cgroup caps fork bombs even for root, whom RLIMIT_NPROC does not bind.
    Clusters rarely let users write cgroups; there RLIMIT_NPROC (per user) does the job.
    """
    candidates = ["/sys/fs/cgroup/pids"]  # cgroup v1
    v2 = "/sys/fs/cgroup"
    try:
        with open(f"{v2}/cgroup.controllers") as handle:
            if "pids" in handle.read().split():
                candidates.append(v2)
    except OSError:
        pass
    for root in candidates:
        if os.path.isdir(root) and os.access(root, os.W_OK):
            return root
    return None
