"""The report's figures: pass@1 bars, the data funnel and the training loss.

Figures are drawn with the Agg backend (no display on a cluster node) and saved without the
matplotlib version in the PNG metadata, so the same inputs give the same bytes.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (the backend must be chosen first)
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from selfcodealign.jsonl import atomic_writer  # noqa: E402

MODEL_COLOURS = {"base": "#9ecae1", "finetuned": "#3182bd"}
STAGE_COLOURS = {"seeds": "#74c476", "generation": "#6baed6", "dataset": "#fd8d3c"}
OTHER_COLOUR = "#bdbdbd"
DPI = 120


def save(fig: Figure, path: str | os.PathLike) -> None:
    """Save ``fig`` as PNG through a temporary sibling and close it."""
    try:
        with atomic_writer(path, binary=True) as handle:
            fig.savefig(handle, format="png", dpi=DPI, metadata={"Software": None})
    finally:
        plt.close(fig)


def _message(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=14)
    ax.set_xticks([])
    ax.set_yticks([])


def _groups(rows: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["benchmark"], row["prompt"]), []).append(row)
    return groups


def _bars(members: list[dict[str, Any]]) -> list[tuple[str, float, bool]]:
    """(model kind, height, from the paper) for each bar of a group: ours, then the paper's."""
    bars = []
    for row in members:
        bars.append((row["model"], row["plus"], False))
        if row["paper_plus"] is not None:
            bars.append((row["model"], row["paper_plus"], True))
    return bars


def pass_at_1_plot(rows: list[dict[str, Any]], path: str | os.PathLike) -> None:
    """pass@1 (plus tests) per (benchmark, prompt): a bar per model, the paper's hatched beside."""
    groups = {key: _bars(members) for key, members in _groups(rows).items()}
    fig, ax = plt.subplots(figsize=(max(6.0, 2.6 * len(groups)), 4.5))
    if not rows:
        _message(ax, "no evaluations")
        save(fig, path)
        return
    width = 0.8 / max(len(bars) for bars in groups.values())
    for index, bars in enumerate(groups.values()):
        start = index - width * (len(bars) - 1) / 2
        for slot, (model, height, paper) in enumerate(bars):
            _bar(ax, start + slot * width, width, model, height, paper)
    ax.set_xticks(range(len(groups)), [f"{bench}\n{prompt} prompt" for bench, prompt in groups])
    ax.set_ylabel("pass@1, plus tests (%)")
    tallest = max(height for bars in groups.values() for _, height, _ in bars)
    ax.set_ylim(0, min(110, tallest * 1.15 + 5))
    ax.set_title("pass@1 (greedy): base vs fine-tuned")
    ax.legend(handles=_pass_legend(rows), loc="upper left", fontsize=8)
    fig.tight_layout()
    save(fig, path)


def _bar(ax, x: float, width: float, model: str, height: float, paper: bool) -> None:
    colour = MODEL_COLOURS.get(model, OTHER_COLOUR)
    if paper:
        # Hatched outline in the model's colour: the paper's number for the same setting.
        ax.bar(x, height, width * 0.9, color="white", hatch="///", edgecolor=colour)
    else:
        ax.bar(x, height, width * 0.9, color=colour, edgecolor="black", linewidth=0.5)
    ax.text(x, height + 0.8, f"{height:.1f}", ha="center", va="bottom", fontsize=8)


def _pass_legend(rows: list[dict[str, Any]]) -> list[Patch]:
    kinds = sorted({row["model"] for row in rows}, key=lambda k: (k != "base", k))
    handles = [
        Patch(facecolor=MODEL_COLOURS.get(kind, OTHER_COLOUR), edgecolor="black", label=kind)
        for kind in kinds
    ]
    if any(row["paper_plus"] is not None for row in rows):
        handles.append(Patch(facecolor="white", edgecolor="grey", hatch="///", label="paper"))
    return handles


def funnel_plot(rows: list[dict[str, Any]], path: str | os.PathLike) -> None:
    """Each step's output count as a horizontal bar, coloured by stage, in pipeline order."""
    fig, ax = plt.subplots(figsize=(8.0, max(2.5, 0.35 * len(rows) + 1.2)))
    if not rows:
        _message(ax, "no funnel")
        save(fig, path)
        return
    counts = [row["output"] for row in rows]
    positive = [count for count in counts if count > 0]
    log = bool(positive) and max(positive) > 100 * min(positive)
    colours = [STAGE_COLOURS.get(row["stage"], OTHER_COLOUR) for row in rows]
    ys = range(len(rows))
    ax.barh(ys, counts, color=colours, edgecolor="black", linewidth=0.5)
    ax.set_yticks(ys, [f"{row['stage']}: {row['step']}" for row in rows], fontsize=8)
    ax.invert_yaxis()
    if log:
        ax.set_xscale("log")
        ax.set_xlim(0.5, max(positive) * 4)
    else:
        ax.set_xlim(0, max(1, max(counts)) * 1.15)
    for y, count in zip(ys, counts, strict=True):
        ax.text(max(count, 0.6 if log else 0), y, f" {count}", va="center", fontsize=8)
    ax.set_xlabel("records out" + (" (log scale)" if log else ""))
    ax.set_title("Data funnel: seeds to sft.jsonl")
    stages = dict.fromkeys(row["stage"] for row in rows)
    ax.legend(
        handles=[Patch(color=STAGE_COLOURS.get(s, OTHER_COLOUR), label=s) for s in stages],
        loc="lower right",
        fontsize=8,
    )
    fig.tight_layout()
    save(fig, path)


def read_loss(path: str | os.PathLike) -> list[dict[str, float]]:
    """(step, loss, run) of each row of ``loss.csv`` with a numeric step and loss."""
    points = []
    with open(path, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            try:
                step, loss = float(row["step"]), float(row["loss"])
            except (KeyError, TypeError, ValueError):
                continue  # A row without a loss (an evaluation-only log line, say).
            try:
                run = int(float(row.get("run") or 1))
            except ValueError:
                run = 1
            points.append({"step": step, "loss": loss, "run": run})
    return points


def loss_plot(points: Iterable[dict[str, float]], path: str | os.PathLike) -> None:
    """Training loss against the optimizer step; a resumed training shows as a new run."""
    points = list(points)
    fig, ax = plt.subplots(figsize=(7.0, 4.0))
    if not points:
        _message(ax, "no data")
        save(fig, path)
        return
    runs = sorted({int(point["run"]) for point in points})
    for run in runs:
        mine = [point for point in points if point["run"] == run]
        ax.plot(
            [point["step"] for point in mine],
            [point["loss"] for point in mine],
            marker="o" if len(mine) < 50 else None,
            markersize=4,
            label=f"run {run}",
        )
    ax.set_xlabel("step")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("training loss")
    ax.set_title("Training loss")
    if len(runs) > 1:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save(fig, path)
