"""A throwaway single-node SLURM cluster for tests: munged, slurmctld and slurmd in a temp dir.

Everything the daemons write (config, munge key and socket, state, spool, logs) lives under one
directory, on ports picked at random, so the cluster neither needs nor touches /etc/slurm,
/run/munge or a cluster that may already run on the machine. There is no accounting: `sacct`
does not work, and the Snakemake SLURM executor must be told `--slurm-status-command squeue`.
Client commands (sbatch, squeue, scontrol) and the jobs they start find the cluster through
`Cluster.env`: SLURM_CONF, and wrappers of the client commands first on PATH (see _wrappers).

    cluster = start_cluster(Path(tmp))   # raises ClusterUnavailable when SLURM cannot run
    try:
        subprocess.run(["sbatch", ...], env=cluster.env)
    finally:
        cluster.stop()                   # by PID, and only the daemons started here

Without systemd the daemons run in the foreground as children of this process. Root is needed:
slurmd starts jobs, and the Debian packages (slurmctld slurmd slurm-client munge) are installed
with apt-get when they are missing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

PACKAGES = ["slurmctld", "slurmd", "slurm-client", "munge"]
CLIENTS = ["sbatch", "srun", "squeue", "scontrol", "scancel", "sinfo", "sacct"]
COMMANDS = ["munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "sinfo"]
SBIN = ["/usr/sbin", "/sbin"]
NODE = "localhost"
PARTITION = "debug"
WRAPPER_MARK = ".slurm-cluster-wrappers"


class ClusterUnavailable(RuntimeError):
    """SLURM cannot be installed or started here; a test should skip, not fail."""


def _which(command: str) -> str | None:
    path = os.pathsep.join([os.environ.get("PATH", ""), *SBIN])
    return shutil.which(command, path=path)


def ensure_packages(timeout: float = 600) -> None:
    """Install the Debian packages when a command is missing (root and apt-get only)."""
    if all(_which(c) for c in COMMANDS):
        return
    if os.geteuid() != 0:
        raise ClusterUnavailable("SLURM is not installed and this process is not root")
    if not shutil.which("apt-get"):
        raise ClusterUnavailable("SLURM is not installed and apt-get is not available")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *PACKAGES]
    for command in (["apt-get", "update", "-q"], install):
        try:
            result = subprocess.run(
                command, env=env, capture_output=True, text=True, timeout=timeout
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            raise ClusterUnavailable(f"{' '.join(command)} failed: {err}") from err
        if result.returncode != 0:
            tail = (result.stdout + result.stderr)[-2000:]
            raise ClusterUnavailable(f"{' '.join(command)} failed:\n{tail}")
    missing = [c for c in COMMANDS if not _which(c)]
    if missing:
        raise ClusterUnavailable(f"commands still missing after apt-get: {missing}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _memory_mb() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    raise ClusterUnavailable("cannot read MemTotal from /proc/meminfo")


@dataclass
class Cluster:
    """A running cluster: what a test needs to submit to it and to check what ran."""

    root: Path
    conf: Path
    cpus: int
    mem_mb: int
    partition: str = PARTITION
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def bin(self) -> Path:
        """Wrappers of the client commands that always talk to this cluster (see _wrappers)."""
        return self.root / "bin"

    @property
    def env(self) -> dict[str, str]:
        """Variables for client commands and for snakemake (its jobs inherit them)."""
        return self.environ(os.environ)

    def environ(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """`base` (default: nothing) with SLURM_CONF set and the wrappers first on PATH."""
        env = dict(base or {})
        path = env.get("PATH", os.environ.get("PATH", ""))
        env["PATH"] = os.pathsep.join([str(self.bin), path])
        env["SLURM_CONF"] = str(self.conf)
        return env

    @property
    def slurmctld_log(self) -> Path:
        return self.root / "log" / "slurmctld.log"

    @property
    def slurmd_log(self) -> Path:
        return self.root / "log" / "slurmd.log"

    def run(self, *command: str, timeout: float = 30) -> subprocess.CompletedProcess:
        """Run a client command (squeue, scontrol, ...) against this cluster."""
        return subprocess.run(
            list(command),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def allocated_jobs(self) -> list[str]:
        """Lines of slurmctld's log that record a job being given the node."""
        if not self.slurmctld_log.exists():
            return []
        return [
            line
            for line in self.slurmctld_log.read_text(errors="replace").splitlines()
            if "sched: Allocate JobId=" in line
            or "sched/backfill: _start_job: Started JobId=" in line
        ]

    def logs(self, limit: int = 4000) -> str:
        """The tails of the daemons' logs, for an error message."""
        parts = []
        for path in sorted((self.root / "log").glob("*.log")):
            text = path.read_text(errors="replace")
            parts.append(f"--- {path.name}\n{text[-limit:]}")
        return "\n".join(parts)

    def stop(self, timeout: float = 10) -> None:
        """Cancel what is left, then stop the daemons by PID: slurmd, slurmctld, munged."""
        if "slurmctld" in self.processes and self.processes["slurmctld"].poll() is None:
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                self.run("scancel", "--partition", self.partition, timeout=10)
        for name in ("slurmd", "slurmctld", "munged"):
            process = self.processes.pop(name, None)
            if process is None or process.poll() is not None:
                continue
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=timeout)

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _write_config(root: Path, *, cpus: int, mem_mb: int, real_mem_mb: int, real_cpus: int) -> Path:
    ctld_port, slurmd_port = _free_port(), _free_port()
    while slurmd_port == ctld_port:
        slurmd_port = _free_port()
    # A node larger than the machine is only accepted with config_overrides; the daemons
    # enforce nothing (no cgroups), so it only lets rules with big requests be scheduled.
    overrides = mem_mb > real_mem_mb or cpus > real_cpus
    host = socket.gethostname().split(".")[0]
    lines = [
        "ClusterName=selfcodealign-test",
        f"SlurmctldHost={host}(127.0.0.1)",
        f"SlurmctldPort={ctld_port}",
        f"SlurmdPort={slurmd_port}",
        "SlurmUser=root",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"AuthInfo=socket={root / 'munge' / 'munge.socket'}",
        f"StateSaveLocation={root / 'state'}",
        f"SlurmdSpoolDir={root / 'spool'}",
        f"SlurmctldPidFile={root / 'run' / 'slurmctld.pid'}",
        f"SlurmdPidFile={root / 'run' / 'slurmd.pid'}",
        f"SlurmctldLogFile={root / 'log' / 'slurmctld.log'}",
        f"SlurmdLogFile={root / 'log' / 'slurmd.log'}",
        "SlurmctldDebug=info",
        "SlurmdDebug=info",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core_Memory",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        "JobCompType=jobcomp/none",
        "MpiDefault=none",
        "ReturnToService=2",
        # squeue, the executor's status command without accounting, sees a job until
        # MinJobAge seconds after it ended; the executor falls back to sacct below 3x its
        # first-check delay.
        "MinJobAge=300",
        "SchedulerType=sched/backfill",
        "SlurmctldTimeout=30",
        "SlurmdTimeout=30",
        *(["SlurmdParameters=config_overrides"] if overrides else []),
        f"NodeName={NODE} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={mem_mb} State=UNKNOWN",
        f"PartitionName={PARTITION} Nodes={NODE} Default=YES MaxTime=INFINITE State=UP",
    ]
    conf = root / "slurm.conf"
    conf.write_text("\n".join(lines) + "\n")
    return conf


def _wrappers(bin_dir: Path, conf: Path) -> None:
    """Client commands that set SLURM_CONF themselves, for PATH ahead of the real ones.

    snakemake-executor-plugin-slurm-jobstep (0.6.1) starts each job's `srun` with every
    SLURM_* variable removed but a few job ids, SLURM_CONF included: on a cluster whose
    config is not at the compiled-in /etc/slurm/slurm.conf, srun then fails with "Could not
    establish a configuration source". PATH survives, so these wrappers put it back.
    """
    bin_dir.mkdir(parents=True, exist_ok=True)
    (bin_dir / WRAPPER_MARK).touch()
    # The real commands, never another cluster's wrappers that may be on PATH already.
    dirs = [d for d in os.environ.get("PATH", "").split(os.pathsep) + SBIN if d]
    search = os.pathsep.join(d for d in dirs if not (Path(d) / WRAPPER_MARK).exists())
    for name in CLIENTS:
        real = shutil.which(name, path=search)
        if real is None:
            continue
        wrapper = bin_dir / name
        wrapper.write_text(f'#!/bin/sh\nSLURM_CONF="{conf}" exec "{real}" "$@"\n')
        wrapper.chmod(0o755)


def _wait(predicate, timeout: float, what: str, cluster: Cluster) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, process in cluster.processes.items():
            if process.poll() is not None:
                raise ClusterUnavailable(
                    f"{name} exited with {process.returncode} while waiting for {what}\n"
                    + cluster.logs()
                )
        try:
            if predicate():
                return
        except (OSError, subprocess.SubprocessError):
            pass
        time.sleep(0.2)
    raise ClusterUnavailable(f"timed out waiting for {what}\n" + cluster.logs())


def start_cluster(
    root: Path,
    *,
    cpus: int | None = None,
    mem_mb: int | None = None,
    install: bool = True,
    timeout: float = 30,
) -> Cluster:
    """Start munged, slurmctld and slurmd with everything under `root`; wait for an idle node.

    cpus and mem_mb size the node (default: this machine, memory less 10%). Raises
    ClusterUnavailable when SLURM is missing and cannot be installed, when this process is not
    root, or when a daemon does not come up; the daemons already started are stopped then.
    """
    if os.geteuid() != 0:
        raise ClusterUnavailable("a local SLURM cluster needs root (slurmd starts the jobs)")
    if install:
        ensure_packages()
    elif not all(_which(c) for c in COMMANDS):
        raise ClusterUnavailable("SLURM is not installed")

    root = Path(root).resolve()
    try:
        for sub in ("munge", "state", "spool", "run", "log"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        # munged refuses a socket directory or key that others may write or read.
        root.chmod(0o755)
        (root / "munge").chmod(0o700)
        key = root / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)
        socket_path = root / "munge" / "munge.socket"
        if len(str(socket_path)) > 100:  # a Unix socket path has at most 107 bytes
            raise ClusterUnavailable(f"{root} is too deep for the munge socket's path")

        real_cpus = os.cpu_count() or 1
        real_mem = _memory_mb()
        cpus = cpus or real_cpus
        mem_mb = mem_mb or max(1, int(real_mem * 0.9))
        conf = _write_config(
            root, cpus=cpus, mem_mb=mem_mb, real_mem_mb=real_mem, real_cpus=real_cpus
        )
        cluster = Cluster(root=root, conf=conf, cpus=cpus, mem_mb=mem_mb)
        _wrappers(cluster.bin, conf)
    except OSError as err:
        raise ClusterUnavailable(f"cannot prepare {root}: {err}") from err
    env = cluster.env

    def spawn(name: str, command: list[str]) -> None:
        out = open(root / "log" / f"{name}.out", "wb")  # noqa: SIM115 (closed with the process)
        try:
            cluster.processes[name] = subprocess.Popen(
                command, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        except OSError as err:
            raise ClusterUnavailable(f"cannot start {name}: {err}") from err
        finally:
            out.close()

    try:
        spawn(
            "munged",
            [
                _which("munged") or "munged",
                "--foreground",
                "--force",
                f"--socket={socket_path}",
                f"--key-file={key}",
                f"--pid-file={root / 'run' / 'munged.pid'}",
                f"--log-file={root / 'log' / 'munged.log'}",
                f"--seed-file={root / 'munge' / 'munged.seed'}",
            ],
        )
        _wait(socket_path.exists, timeout, "the munge socket", cluster)
        # -c: start from a clean state, -i: ignore state files of an earlier run.
        spawn("slurmctld", [_which("slurmctld") or "slurmctld", "-D", "-c", "-i", "-f", str(conf)])
        _wait(
            lambda: cluster.run("scontrol", "ping", timeout=10).stdout.count("is UP") > 0,
            timeout,
            "slurmctld",
            cluster,
        )
        spawn("slurmd", [_which("slurmd") or "slurmd", "-D", "-N", NODE, "-f", str(conf)])

        def node_idle() -> bool:
            state = cluster.run("sinfo", "-h", "-n", NODE, "-o", "%T", timeout=10).stdout
            return state.strip().rstrip("*") == "idle"

        _wait(node_idle, timeout, "an idle node", cluster)
    except BaseException as err:
        cluster.stop()
        if isinstance(err, (OSError, subprocess.SubprocessError)):
            raise ClusterUnavailable(f"SLURM did not start: {err}\n{cluster.logs()}") from err
        raise
    return cluster
