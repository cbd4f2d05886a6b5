"""The benches' results as the report reads and shows them: CPU scaling and IPC costs."""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Callable, Sequence
from typing import TypeVar

from poolpipe.bench import IpcPoint, OverheadPoint, ScalingPoint
from poolpipe.core.inputs import read_small_file
from poolpipe.errors import PoolpipeError
from poolpipe.report.cells import (
    cores,
    seconds,
    shown,
    size,
    speedup_verdict,
    spread_of,
    times,
)

TABLE_LIMIT = 16 << 20
"""The largest bench table read (bytes): a few dozen rows."""
P = TypeVar("P")


def _optional(value: str | None) -> float | None:
    return _number(value) if value else None


def _number(value: str | None) -> float:
    """A measurement of a bench table: a finite number of at least 0, else a ValueError."""
    number = float(value)  # type: ignore[arg-type]
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{value!r} is not a finite number of at least 0")
    return number


def _read_table(
    path: str | os.PathLike[str], bench: str, point: Callable[[dict[str, str]], P]
) -> list[P]:
    """A bench table's rows as points, read with a bound (a FIFO or a device is refused, not
    waited on); a table that is not what the bench writes is one sentence that names it."""
    try:
        data = read_small_file(path, label="bench table", limit=TABLE_LIMIT)
        rows = csv.DictReader(io.StringIO(data.decode("utf-8")), delimiter="\t")
        return [point(row) for row in rows]
    except (KeyError, TypeError, ValueError, csv.Error, UnicodeDecodeError) as exc:
        raise PoolpipeError(f"{path} is not a table {bench} wrote: {exc}") from None


def read_scaling(path: str | os.PathLike[str]) -> list[ScalingPoint]:
    """Read bench_cpu's TSV."""
    return _read_table(path, "bench_cpu", _scaling_point)


def _scaling_point(r: dict[str, str]) -> ScalingPoint:
    return ScalingPoint(
        processes=int(r["processes"]),
        wall_s=_number(r["wall_s"]),
        runs=tuple(_number(v) for v in r["runs"].split(",") if v),
        speedup=_number(r["speedup"]),
        efficiency=_number(r["efficiency"]),
        load=_optional(r.get("load")),
    )


def read_ipc(path: str | os.PathLike[str]) -> list[IpcPoint]:
    """Read bench_ipc's TSV."""
    return _read_table(path, "bench_ipc", _ipc_point)


def _ipc_point(r: dict[str, str]) -> IpcPoint:
    return IpcPoint(
        method=r["method"],
        size=int(r["size"]),
        messages=int(r["messages"]),
        latency_us=_number(r["latency_us"]),
        throughput_mb_s=_number(r["throughput_mb_s"]),
    )


def read_overhead(path: str | os.PathLike[str]) -> list[OverheadPoint]:
    """Read bench_overhead's TSV."""
    return _read_table(path, "bench_overhead", _overhead_point)


def _overhead_point(r: dict[str, str]) -> OverheadPoint:
    return OverheadPoint(
        processes=int(r["processes"]),
        start_s=_number(r["start_s"]),
        start_min_s=_number(r["start_min_s"]),
        start_max_s=_number(r["start_max_s"]),
        dispatch_us=_number(r["dispatch_us"]),
        repeats=int(r["repeats"]),
        load=_optional(r.get("load")),
    )


def scaling_table(
    points: Sequence[ScalingPoint], *, spread_limit: float = 0.25
) -> tuple[list[str], list[list[str]]]:
    """bench_cpu's wall times over the repeats (median, min, max, IQR), speedup, load, and
    what the repeats' speedups (each repeat's one-process run over its run here) allow."""
    head = ["processes", "time (median)", "min", "max", "IQR", "runs", "speedup"]
    head += ["efficiency", "other load", "verdict"]
    one = min(points, key=lambda p: p.processes).runs if points else ()
    rows = []
    for p in points:
        runs = spread_of(p.runs) or spread_of([p.wall_s])
        assert runs is not None
        paired = [a / b for a, b in zip(one, p.runs, strict=False) if b]
        verdict = speedup_verdict(spread_of(paired), spread_limit=spread_limit)
        rows.append(
            [
                shown(p.processes),
                seconds(p.wall_s),
                seconds(runs.min),
                seconds(runs.max),
                seconds(runs.iqr),
                shown(runs.n),
                times(p.speedup),
                shown(p.efficiency),
                cores(p.load),
                verdict if p.processes > min(q.processes for q in points) else "",
            ]
        )
    return head, rows


def overhead_table(points: Sequence[OverheadPoint]) -> tuple[list[str], list[list[str]]]:
    """bench_overhead's start-up and dispatch costs per pool size."""
    head = ["processes", "start (median)", "min", "max", "dispatch per task", "repeats"]
    head += ["other load"]
    rows = [
        [
            shown(p.processes),
            seconds(p.start_s),
            seconds(p.start_min_s),
            seconds(p.start_max_s),
            seconds(p.dispatch_us * 1e-6) if p.dispatch_us > 0 else "too little to measure",
            shown(p.repeats),
            cores(p.load),
        ]
        for p in points
    ]
    return head, rows


def ipc_table(points: Sequence[IpcPoint]) -> tuple[list[str], list[list[str]]]:
    """bench_ipc's results, with the fastest method per size marked."""
    best = {}
    for p in points:
        if p.size not in best or p.latency_us < best[p.size].latency_us:
            best[p.size] = p
    head = ["size", "method", "latency", "throughput", "messages", "fastest"]
    rows = [
        [
            size(p.size),
            p.method,
            seconds(p.latency_us * 1e-6),
            f"{size(p.throughput_mb_s * 1e6)}/s",
            shown(p.messages),
            "yes" if best[p.size] is p else "",
        ]
        for p in sorted(points, key=lambda p: (p.size, p.latency_us))
    ]
    return head, rows


def ipc_advice(points: Sequence[IpcPoint]) -> str:
    """Which method to pick, read off the measurements."""
    if not points:
        return ""
    sizes = sorted({p.size for p in points})
    best = {s: min((p for p in points if p.size == s), key=lambda p: p.latency_us) for s in sizes}
    text = "Fastest way to hand a message to another process, by size (measured here): "
    text += "; ".join(f"{size(s)}: {best[s].method}" for s in sizes) + "."
    pipe = {p.size: p for p in points if p.method == "pipe"}
    slow = [  # from 64 KiB: below, a round trip's noise, not the copy, decides
        s
        for s in sizes
        if s >= 1 << 16 and s in pipe and pipe[s].latency_us > 2 * best[s].latency_us
    ]
    if slow:
        text += (
            f" From {size(slow[0])} up, a Pipe takes more than twice as long as the "
            f"fastest method, because the bytes are copied through the kernel; below that, "
            f"every method costs about one round trip, so the simplest (a Pipe or a Queue) "
            f"will do. poolpipe's workers get byte ranges of files already on disk (the "
            f"file_offset row), so no data crosses between processes."
        )
    return text
