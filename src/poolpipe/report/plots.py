"""The report's figures, drawn with matplotlib (no display needed) and returned as PNG bytes."""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from poolpipe.bench import IpcPoint, ScalingPoint, amdahl_speedup

DPI = 96


def _png(fig: plt.Figure) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def stage_times(
    stages: Sequence[str], wall_s: Sequence[float], mb_s: Sequence[float | None]
) -> bytes:
    """Wall time and throughput per stage, side by side."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    left.bar(stages, wall_s, color="#4c72b0")
    left.set_ylabel("wall seconds (pool jobs, summed)")
    left.set_title("Wall time per stage")
    shown = [(s, v) for s, v in zip(stages, mb_s, strict=True) if v is not None]
    right.bar([s for s, _ in shown], [v for _, v in shown], color="#55a868")
    right.set_ylabel("MB/s")
    right.set_title("Throughput per stage")
    return _png(fig)


def pool_vs_serial(labels: Sequence[str], serial: Sequence[float], pool: Sequence[float]) -> bytes:
    """The same work in one process and in the pool, per stage."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    xs = range(len(labels))
    ax.bar([x - 0.2 for x in xs], serial, width=0.4, label="one process", color="#c44e52")
    ax.bar([x + 0.2 for x in xs], pool, width=0.4, label="pool", color="#4c72b0")
    ax.set_xticks(list(xs), labels)
    ax.set_ylabel("wall seconds")
    ax.set_title("Pool vs single process")
    ax.legend()
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
    ax.set_title("CPU scaling of the seed's loop")
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
    """A distribution, e.g. crawl latencies."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.hist(values, bins=40, color="#4c72b0")
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
