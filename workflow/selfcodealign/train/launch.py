"""Several GPUs: re-run the same command under ``accelerate launch``, one process per GPU.

The GPU count comes from the job (the devices it can see, as SLURM's --gpus sets
CUDA_VISIBLE_DEVICES), not from the config, so a job given fewer GPUs still trains, with more
accumulation for the same effective batch.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from pathlib import Path

from selfcodealign.package_data import data_file

log = logging.getLogger(__name__)
CONFIG_DIR = data_file("accelerate")


def visible_gpus() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def launched_world_size() -> int:
    """Processes the launcher started (torchrun/accelerate set WORLD_SIZE, MPI its own)."""
    for name in ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE"):
        if os.environ.get(name):
            return int(os.environ[name])
    return 1


def inside_launcher() -> bool:
    """True in a process that accelerate/torchrun started (it sets the world size)."""
    return "WORLD_SIZE" in os.environ or "LOCAL_RANK" in os.environ


def accelerate_config(name: str) -> Path:
    path = CONFIG_DIR / f"{name}.yaml"
    if not path.exists():
        choices = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
        raise ValueError(f"no accelerate config {name!r}; choose one of {choices}")
    return path


def _free_port() -> int:
    # Two jobs on one node must not share the rendezvous port.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch_command(processes: int, config_name: str, argv: list[str]) -> list[str]:
    """``accelerate launch`` of ``python -m selfcodealign <argv>`` on ``processes`` GPUs."""
    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(accelerate_config(config_name)),
        "--num_processes",
        str(processes),
        "--main_process_port",
        str(_free_port()),
        "--module",
        "selfcodealign",
        *argv,
    ]


def relaunch_if_needed(settings: dict, argv: list[str]) -> None:
    """Replace this process with an accelerate launch when more than one GPU is wanted and seen."""
    if inside_launcher() or settings["gpus"] <= 1:
        return
    gpus = visible_gpus()
    if gpus != settings["gpus"]:
        log.warning("finetune.gpus is %d but the job sees %d GPUs", settings["gpus"], gpus)
    if gpus <= 1:
        return
    command = launch_command(gpus, settings["accelerate_config"], argv)
    log.info("launching: %s", " ".join(command))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(command[0], command)
