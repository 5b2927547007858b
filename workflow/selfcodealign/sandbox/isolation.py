"""Which isolation is available: bubblewrap, the rule's Apptainer container, or processes only.

bubblewrap gives each worker a file system that holds only what Python needs, read-only: the
system's programs and libraries (/usr and its links), a few files of /etc (the loader cache,
time zone, users and groups), this interpreter and its packages, and the workflow's package.
Home directories, caches, credentials and other users' data are not there at all. /tmp is a
private, size-limited tmpfs; there is no network, and PID/IPC/UTS namespaces are private.
Inside an Apptainer container without bubblewrap, the container must provide the isolation: a
probe checks that it has no network but loopback and a read-only working directory, and the
sandbox refuses to run otherwise. Without either, programs still get their own session, limits
and user, but can read the file system and reach the network: the sandbox refuses that unless
asked explicitly.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from functools import cache

BWRAP_FLAGS = [
    "--unshare-all",  # network, PID, IPC, UTS, user and cgroup namespaces
    "--cap-drop", "ALL",  # even as root inside: no remounting, no raising limits
    "--die-with-parent",
    "--new-session",
    "--dev", "/dev",
    "--proc", "/proc",
]  # fmt: skip
# The system's programs and libraries (on merged-/usr systems the others are links into /usr).
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# What of /etc programs need: the dynamic loader's cache, the time zone, users and groups (no
# secrets there), and the links of Debian's alternatives.
ETC_PATHS = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/etc/alternatives",
)


def _shown(path: str) -> list[str]:
    """bwrap arguments that show ``path`` read-only as it is: a link stays a link."""
    if os.path.islink(path):
        return ["--symlink", os.readlink(path), path]
    if os.path.exists(path):
        return ["--ro-bind", path, path]
    return []


def python_paths() -> list[str]:
    """This interpreter (its prefix, base prefix and real executable's directory) and every
    directory on its import path: the venv's packages and the workflow's own package."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    wanted = {
        sys.prefix,
        sys.base_prefix,
        os.path.dirname(os.path.realpath(sys.executable)),
        package,
        *(entry for entry in sys.path if entry and os.path.isdir(entry)),
    }
    paths = {os.path.realpath(path) for path in wanted} | {os.path.abspath(p) for p in wanted}
    # A path inside another one comes with it.
    ordered = sorted(paths)
    return [p for i, p in enumerate(ordered) if not any(p.startswith(q + "/") for q in ordered[:i])]


def paths_under_tmp() -> list[str]:
    """The top-level entries of /tmp that hold the interpreter's or package's paths (a checkout
    or venv there): the zygote's sweep of the private /tmp, which looks at top-level entries,
    leaves them alone."""
    return sorted({"/tmp/" + p.split("/")[2] for p in python_paths() if p.startswith("/tmp/")})


def bwrap_command(tmp_mb: int, writable: Sequence[str] = ()) -> list[str]:
    """The bubblewrap command line; ``writable`` directories of the host are bound read-write
    (EvalPlus's run directory)."""
    shown = [arg for path in (*SYSTEM_PATHS, *ETC_PATHS) for arg in _shown(path)]
    python = [arg for path in python_paths() for arg in ("--ro-bind", path, path)]
    binds = [arg for path in writable for arg in ("--bind", path, path)]
    return [
        shutil.which("bwrap") or "bwrap",
        *BWRAP_FLAGS,
        *shown,
        "--size", str(tmp_mb * 1024 * 1024),
        "--tmpfs", "/tmp",
        *python,  # after /tmp: a venv under /tmp stays visible
        *binds,
        "--size", str(16 * 1024 * 1024),  # bwrap's /dev/shm would be half the RAM otherwise
        "--tmpfs", "/dev/shm",
        "--remount-ro", "/",  # nothing can be created beside what is bound
        "--setenv", "SCA_SANDBOX_PIDNS", "1",
        "--setenv", "SCA_SANDBOX_KEEP", ":".join(paths_under_tmp()),
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


def container_gaps(directory: str = ".") -> list[str]:
    """What keeps this container from isolating programs: interfaces other than loopback (no
    ``--net --network none``), or a writable working directory (programs could rewrite the
    results). An environment variable says only that a container runs, not how."""
    gaps = []
    interfaces = sorted({name for _, name in socket.if_nameindex()} - {"lo"})
    if interfaces:
        gaps.append(f"network interfaces besides loopback: {', '.join(interfaces)}")
    try:
        handle, probe = tempfile.mkstemp(dir=directory, prefix=".isolation-probe-")
    except OSError:
        pass  # read-only, as wanted
    else:
        os.close(handle)
        os.unlink(probe)
        gaps.append(f"the working directory {os.path.abspath(directory)} is writable")
    return gaps


def detect(prefer: str = "auto") -> str:
    """``bwrap``, ``apptainer`` or ``process`` (no file-system or network isolation)."""
    if prefer in ("auto", "bwrap") and bwrap_works():
        return "bwrap"
    if prefer == "bwrap":
        raise RuntimeError("bubblewrap was asked for but cannot run here (is `bwrap` installed?)")
    if in_container() and not container_gaps():
        return "apptainer"
    return "process"


class UnisolatedError(RuntimeError):
    """Neither bubblewrap nor a container isolates programs, and that was not allowed."""


def require(prefer: str = "auto", allow_unisolated: bool = False) -> str:
    """The isolation to use; refuses process limits alone unless explicitly allowed."""
    isolation = detect(prefer)
    if isolation == "process" and not allow_unisolated:
        if in_container():
            why = "this Apptainer container does not isolate: " + "; ".join(container_gaps())
        else:
            why = "bubblewrap cannot run and this is not an Apptainer container"
        raise UnisolatedError(
            f"no file-system or network isolation here ({why}); install bubblewrap (the "
            "sandbox image carries it) or run the container with --net --network none and a "
            "read-only working directory"
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
