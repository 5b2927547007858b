"""Effective batch = per-device batch x gradient accumulation x world size, whatever the GPUs."""

from __future__ import annotations

from dataclasses import asdict, dataclass


class BatchError(ValueError):
    """An effective batch that the per-device batch and the world size cannot make exactly."""


@dataclass(frozen=True)
class BatchPlan:
    effective: int
    per_device: int
    world_size: int
    accumulation: int

    def describe(self) -> str:
        return (
            f"effective batch {self.effective} = {self.per_device} per device"
            f" x {self.accumulation} accumulation x {self.world_size} processes"
        )

    def as_dict(self) -> dict:
        return asdict(self)


def plan_batch(effective: int, per_device: int, world_size: int) -> BatchPlan:
    """The accumulation that makes ``effective`` exactly, or ``BatchError`` naming what would."""
    if min(effective, per_device, world_size) < 1:
        raise BatchError("batch sizes and the world size must be positive")
    per_step = per_device * world_size
    if effective % per_step:
        fits = [b for b in range(1, effective + 1) if effective % (b * world_size) == 0]
        raise BatchError(
            f"effective batch {effective} is not a multiple of per-device batch {per_device}"
            f" x {world_size} processes; per-device batches that fit: {fits or 'none'}"
        )
    return BatchPlan(effective, per_device, world_size, effective // per_step)
