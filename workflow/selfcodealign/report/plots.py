"""The report's figures: pass@1 against the paper, the data funnel and the training loss.

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


def message_plot(text: str, path: str | os.PathLike, title: str) -> None:
    """A figure that holds only ``text``: what stands in for a plot of nothing."""
    fig, ax = plt.subplots(figsize=(7.0, 4.0))
    _message(ax, text)
    ax.set_title(title)
    save(fig, path)


def _series_colours(names: Iterable[str]) -> dict[str, Any]:
    palette = plt.get_cmap("tab10").colors
    return {name: palette[i % len(palette)] for i, name in enumerate(dict.fromkeys(names))}


def comparison_plot(
    groups: list[tuple[str, list[tuple]]],
    path: str | os.PathLike,
    title: str,
    legend_title: str | None = None,
) -> None:
    """pass@1 per group (a table row): for each series (a benchmark, or a generator in Table 8)
    our bar, the paper's hatched beside it where the paper has a number. A series is
    ``(series, ours, paper)`` or ``(series, ours, paper, note)``: where ours is missing for a
    reason (a training not run for too few pairs), the note stands upright in its bar's place."""
    groups = [(label, [_series(bar) for bar in bars]) for label, bars in groups if bars]
    count = sum(2 * len(bars) for _, bars in groups)
    fig, ax = plt.subplots(figsize=(min(16.0, max(6.0, 0.35 * count + 2)), 4.8))
    values = [v for _, bars in groups for _, ours, theirs, _ in bars for v in (ours, theirs)]
    values = [v for v in values if v is not None]
    notes = [note for _, bars in groups for *_, note in bars if note]
    if not values and not notes:
        _message(ax, "no scores")
        save(fig, path)
        return
    top = min(110, max(values) * 1.15 + 5) if values else 100
    colours = _series_colours(series for _, bars in groups for series, *_ in bars)
    slots = max(sum(1 + (theirs is not None) for _, _, theirs, _ in bars) for _, bars in groups)
    width = 0.8 / slots
    for index, (_, bars) in enumerate(groups):
        heights = [
            (series, value, paper, note if not paper else None)
            for series, ours, theirs, note in bars
            for value, paper in ((ours, False), (theirs, True))
            if value is not None or (note and not paper)
        ]
        start = index - width * (len(heights) - 1) / 2
        for slot, (series, height, paper, note) in enumerate(heights):
            x = start + slot * width
            if height is None:
                ax.text(x, 0.02 * top, note, rotation=90, ha="center", va="bottom", fontsize=7)
            else:
                _bar(ax, x, width, colours[series], height, paper)
    ax.set_xticks(range(len(groups)), [label for label, _ in groups], fontsize=8)
    if len(groups) > 6 or any(len(label) > 14 for label, _ in groups):
        plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
    ax.set_ylabel("pass@1, plus tests (%)")
    ax.set_ylim(0, top)
    ax.set_title(title)
    handles = [Patch(facecolor=c, edgecolor="black", label=s) for s, c in colours.items()]
    if any(theirs is not None for _, bars in groups for _, _, theirs, _ in bars):
        handles.append(Patch(facecolor="white", edgecolor="grey", hatch="///", label="paper"))
    ax.legend(
        handles=handles,
        loc="upper left",
        fontsize=8,
        ncol=min(3, len(handles)),
        title=legend_title,
        title_fontsize=8,
    )
    fig.tight_layout()
    save(fig, path)


def _series(bar: tuple) -> tuple[str, float | None, float | None, str | None]:
    series, ours, theirs, *note = bar
    return series, ours, theirs, (note[0] if note else None)


def _bar(ax, x: float, width: float, colour: Any, height: float, paper: bool) -> None:
    if paper:
        # Hatched outline in the series' colour: the paper's number for the same setting.
        ax.bar(x, height, width * 0.9, color="white", hatch="///", edgecolor=colour)
    else:
        ax.bar(x, height, width * 0.9, color=colour, edgecolor="black", linewidth=0.5)
    ax.text(x, height + 0.8, f"{height:.1f}", ha="center", va="bottom", fontsize=7)


def heatmap_plot(data: dict[str, Any], path: str | os.PathLike, title: str) -> None:
    """Rows x columns coloured by our pass@1 and annotated with it, the paper's number in
    brackets where it has one; a cell without a score stays grey, with its note (``notes``, if
    given: why there is none, a training not run) written in it."""
    import numpy as np

    ours = np.array(data["ours"], dtype=float).reshape(len(data["rows"]), len(data["columns"]))
    notes = data.get("notes") or [[None] * len(data["columns"]) for _ in data["rows"]]
    fig, ax = plt.subplots(
        figsize=(max(5.0, 1.5 * len(data["columns"]) + 3), max(3.0, 0.8 * len(data["rows"]) + 2))
    )
    if ours.size == 0 or (np.isnan(ours).all() and not any(n for line in notes for n in line)):
        _message(ax, "no scores")
        save(fig, path)
        return
    cmap = plt.get_cmap("viridis").with_extremes(bad="#eeeeee")
    low, high = (np.nanmin(ours), np.nanmax(ours)) if not np.isnan(ours).all() else (0.0, 1.0)
    image = ax.imshow(
        np.ma.masked_invalid(ours), cmap=cmap, vmin=low, vmax=max(high, low + 1), aspect="auto"
    )
    for (i, j), value in np.ndenumerate(ours):
        theirs = data["paper"][i][j]
        paper_part = "" if np.isnan(theirs) else f"\n({theirs:.1f})"
        if np.isnan(value):
            if notes[i][j]:
                text = notes[i][j].replace(" (", "\n(", 1)
                ax.text(j, i, text, ha="center", va="center", fontsize=7, color="dimgrey")
            continue
        shade = image.norm(value)
        colour = "black" if shade > 0.6 else "white"
        ax.text(
            j, i, f"{value:.1f}{paper_part}", ha="center", va="center", fontsize=9, color=colour
        )
    ax.set_xticks(range(len(data["columns"])), data["columns"], fontsize=8)
    ax.set_yticks(range(len(data["rows"])), data["rows"], fontsize=8)
    ax.set_xlabel("data generated by")
    ax.set_ylabel("fine-tuned model (base score)")
    ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, label="pass@1, plus tests (%)")
    fig.tight_layout()
    save(fig, path)


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
