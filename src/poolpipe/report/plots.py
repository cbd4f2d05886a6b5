"""The report's figures, drawn with matplotlib (no display needed) and returned as PNG bytes."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from poolpipe.bench import CostModel, IpcPoint, ScalingPoint, amdahl_speedup
from poolpipe.report.cells import seconds
from poolpipe.report.stages import Bar

DPI = 96


def _png(fig: plt.Figure) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


STAGE_COLOURS = {
    "sum": "#4c72b0",
    "train": "#55a868",
    "crawl": "#dd8452",
    "tasks": "#8172b3",
    "supervise": "#937860",
    "bench": "#c44e52",
    "data": "#8c8c8c",
}
"""One colour per stage on every plot; a stage not listed gets one of these in turn."""
_SPARE = ("#da8bc3", "#ccb974", "#64b5cd")


def _colours(stages: Sequence[str]) -> dict[str, str]:
    names = sorted(set(stages))
    extra = [s for s in names if s not in STAGE_COLOURS]
    spare = {s: _SPARE[i % len(_SPARE)] for i, s in enumerate(extra)}
    return {s: STAGE_COLOURS.get(s) or spare[s] for s in names}


MAX_ROWS = 60
"""Above this many jobs the timeline gives each rule one row, its chunks side by side."""
LABEL_PT = 9
"""Labels in points: 12 px at the page's 96 dpi, so every label reads at 11 px or more."""


def timeline(bars: Sequence[Bar], gaps: Sequence[tuple[float, float]] = ()) -> bytes:
    """Every job as a bar from its start to its end, coloured by stage, its start-up lighter
    (a row each, or a row per rule when there are many), and the idle stretches labelled."""
    colour = _colours([b.stage for b in bars])
    many = len(bars) > MAX_ROWS
    names = [re.sub(r" \[\d+\]", "", b.label) if many else b.label for b in bars]
    rows = list(dict.fromkeys(names))
    fig, ax = plt.subplots(figsize=(11, 1.4 + 0.3 * len(rows)))
    for bar, name in zip(bars, names, strict=True):
        y = rows.index(name)
        if bar.startup_s > 0:
            ax.barh(
                y,
                bar.startup_s,
                left=bar.start_s - bar.startup_s,
                color=colour[bar.stage],
                alpha=0.25,
                edgecolor="none",
            )
        ax.barh(
            y,
            bar.end_s - bar.start_s,
            left=bar.start_s,
            color=colour[bar.stage],
            hatch="///" if bar.serial else None,
            alpha=0.55 if bar.serial else 1.0,
            edgecolor="white" if bar.serial or many else colour[bar.stage],
        )
    for start, end in gaps:
        ax.axvspan(start, end, color="#bbbbbb", alpha=0.35, linewidth=0)
        ax.text(
            (start + end) / 2,
            -0.6,
            f"idle {seconds(end - start)}",
            ha="center",
            va="bottom",
            fontsize=LABEL_PT,
            color="#444",
        )
    ax.set_yticks(range(len(rows)), rows, fontsize=LABEL_PT)
    ax.tick_params(axis="x", labelsize=LABEL_PT)
    ax.set_ylim(len(rows) - 0.4, -1.0 if gaps else -0.6)
    ax.set_xlabel("seconds since the run's first job started", fontsize=LABEL_PT + 1)
    ax.set_title(
        "Timeline of the run: light = start-up, dark = work, hatched = one-process rerun",
        fontsize=LABEL_PT + 2,
    )
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colour.values()]
    ax.legend(handles, list(colour), fontsize=LABEL_PT, loc="upper left", bbox_to_anchor=(1.01, 1))
    return _png(fig)


def stage_times(
    stages: Sequence[str],
    wall_s: Sequence[float],
    speedups: Sequence[tuple[float, float, float] | None],
) -> bytes:
    """Each stage's time on the timeline, and its pool's speedup with the spread over chunks."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    colour = _colours(stages)
    left.bar(stages, wall_s, color=[colour[s] for s in stages])
    left.set_ylabel("seconds on the timeline")
    left.set_title("Time per stage (jobs at once count once)")
    shown = [(s, v) for s, v in zip(stages, speedups, strict=True) if v is not None]
    right.set_title("Pool speedup, median and range")
    if not shown:  # an empty frame with axes would read as a speedup of nothing
        note = "not measured in this run\n(no chunk was rerun in one process)"
        right.text(0.5, 0.5, note, ha="center", va="center", transform=right.transAxes)
        right.set_axis_off()
        return _png(fig)
    for x, (stage, (median, low, high)) in enumerate(shown):
        right.bar(x, median, color=colour[stage])
        right.errorbar(x, median, yerr=[[median - low], [high - median]], color="#222", capsize=4)
    right.set_xticks(range(len(shown)), [s for s, _ in shown])
    right.axhline(1, color="#999", linestyle="--", linewidth=1)
    right.set_ylabel("speedup (one process / pool)")
    return _png(fig)


def break_even(
    curves: Sequence[tuple[str, CostModel, int, Sequence[tuple[float, float]]]],
) -> bytes:
    """Speedup the fitted T(p) predicts against a chunk's work, with each stage's chunks."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    colour = _colours([c[0] for c in curves])
    works = [w for _, _, _, pts in curves for w, _ in pts] + [1e-3, 10.0]
    lo, hi = max(min(works) / 10, 1e-4), max(works) * 10
    xs = [lo * (hi / lo) ** (i / 80) for i in range(81)]
    for stage, model, p, points in curves:
        whole = model.serial_s + model.work_s
        ratio = model.serial_s / whole if whole else 0.0
        ys = [w / (model.start_s + ratio * w + (1 - ratio) * w / p) for w in xs]
        ax.plot(xs, ys, color=colour[stage], label=f"{stage}: model, {p} processes")
        ax.plot([w for w, _ in points], [s for _, s in points], "o", color=colour[stage])
    ax.axhline(1, color="#999", linestyle="--", linewidth=1)
    ax.set_xscale("log")
    ax.set_xlabel("one-process seconds of work per chunk")
    ax.set_ylabel("speedup")
    ax.set_title("Where a pool starts to pay (dots: this run's chunks)")
    ax.legend(fontsize=7)
    return _png(fig)


def scaling(points: Sequence[ScalingPoint], serial_fraction: float | None) -> bytes:
    """Measured speedup against process count, with the ideal line and the Amdahl fit."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ps = [p.processes for p in points]
    ax.plot(ps, ps, "--", color="#999", label="ideal")
    ax.plot(ps, [p.speedup for p in points], "o-", color="#4c72b0", label="measured (median)")
    if serial_fraction is not None:
        fine = [1 + i * (max(ps) - 1) / 50 for i in range(51)]
        ax.plot(
            fine,
            [amdahl_speedup(serial_fraction, p) for p in fine],
            color="#dd8452",
            label=f"Amdahl fit, serial fraction {serial_fraction:.3g}",
        )
    ax.set_xlabel("processes")
    ax.set_ylabel("speedup")
    ax.set_title("CPU scaling of the article's CPU-bound loop")
    ax.legend()
    return _png(fig)


def ipc(points: Sequence[IpcPoint]) -> bytes:
    """Throughput by message size for each IPC method."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for method in sorted({p.method for p in points}):
        mine = sorted((p for p in points if p.method == method), key=lambda p: p.size)
        ax.plot([p.size for p in mine], [p.throughput_mb_s for p in mine], "o-", label=method)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("message size (bytes)")
    ax.set_ylabel("MB/s (round trip)")
    ax.set_title("Moving data between processes")
    ax.legend()
    return _png(fig)


def histogram(values: Sequence[float], xlabel: str, title: str) -> bytes:
    """A distribution on a log axis, e.g. crawl latencies (a long tail stays readable)."""
    fig, ax = plt.subplots(figsize=(7, 3.4))
    positive = [v for v in values if v > 0]
    low = min(positive, default=1.0)
    high = max(positive, default=1.0)
    high = max(high, low * 10)
    edges = [low * (high / low) ** (i / 40) for i in range(41)]
    ax.hist(positive, bins=edges, color="#4c72b0")
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count")
    ax.set_title(title)
    return _png(fig)


def bars(
    labels: Sequence[str], values: Sequence[float], *, ylabel: str, title: str, log: bool = False
) -> bytes:
    """Plain bars, e.g. each merge method's error."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.bar(labels, values, color="#4c72b0")
    if log:
        ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return _png(fig)
