"""This run against an earlier one: every job marked slower or faster beyond the spread."""

from __future__ import annotations

import csv
import io
import math
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from poolpipe.core.inputs import read_small_file
from poolpipe.core.timing import MAX_SECONDS
from poolpipe.errors import PoolpipeError
from poolpipe.report.cells import cell, counted, seconds, spread_of, times
from poolpipe.report.jobs import JobRow, Skipped

Key = tuple[str, str, str]
NEEDED = ("rule", "dataset", "chunk", "wall_s")


@dataclass(frozen=True, kw_only=True)
class Change:
    """One job's wall time now and in the baseline, and what the difference means."""

    rule: str
    dataset: str
    chunk: str
    before_s: float | None
    after_s: float | None
    ratio: float | None
    threshold: float | None
    mark: str


BASELINE_LIMIT = 64 << 20
"""The largest baseline read (bytes): a timings.csv of a run of about 100,000 jobs."""


def read_baseline(path: str | os.PathLike[str]) -> tuple[dict[Key, float], list[Skipped]]:
    """An earlier run's timings.csv: each job's wall seconds, and the rows skipped (a wall time
    that is not a finite number of seconds from 0 to MAX_SECONDS, a name that is not a line of
    text), or one sentence when the file as a whole is not a timings.csv."""
    name = f"baseline {os.fspath(path)!r}"
    data = read_small_file(path, label="baseline", limit=BASELINE_LIMIT)
    if b"\0" in data:
        raise PoolpipeError(f"{name} holds NUL bytes: give an earlier run's timings.csv")
    try:
        reader = csv.DictReader(io.StringIO(data.decode("utf-8"), newline=""))
        missing = [c for c in NEEDED if c not in (reader.fieldnames or [])]
        if missing:
            raise PoolpipeError(f"{name} is not a timings.csv: it lacks {', '.join(missing)}")
        out, skipped = {}, []
        for line, row in enumerate(reader, start=2):
            why = _bad_row(row)
            if why:
                skipped.append(Skipped(path=f"{os.fspath(path)} line {line}", why=why))
                continue
            out[(row["rule"], row["dataset"] or "", row["chunk"] or "")] = float(row["wall_s"])
    except (UnicodeDecodeError, csv.Error) as exc:
        raise PoolpipeError(f"{name} is not a readable CSV file ({exc})") from None
    return out, skipped


def _bad_row(row: dict[str, str | None]) -> str:
    """Why a baseline row cannot be compared with, or ''."""
    for key in ("rule", "dataset", "chunk"):
        text = row.get(key)
        if text is None or not text.isprintable() or len(text) > 4096:
            return f"its {key} is not a line of text"
    try:
        wall = float(row["wall_s"] or "")
    except (TypeError, ValueError):
        return f"wall_s {row['wall_s']!r} is not a number"
    if not math.isfinite(wall) or not 0 <= wall <= MAX_SECONDS:
        return f"wall_s {row['wall_s']!r} is not a time from 0 to {MAX_SECONDS:g} seconds"
    return ""


def _key(job: JobRow) -> Key:
    return (job.rule, job.dataset or "", "" if job.chunk is None else str(job.chunk))


def _noise(jobs: Sequence[JobRow]) -> dict[tuple[str, str], float]:
    """Per rule and dataset, the relative IQR of seconds per byte over its jobs (chunks)."""
    out: dict[tuple[str, str], float] = {}
    for rule, dataset in {(j.rule, j.dataset or "") for j in jobs}:
        mine = [j for j in jobs if j.rule == rule and (j.dataset or "") == dataset]
        per = spread_of([j.wall_s / j.bytes if j.bytes else j.wall_s for j in mine])
        out[(rule, dataset)] = per.relative_iqr if per and per.n > 1 and per.median else 0.0
    return out


def _resplit(now: Iterable[Key], before: Iterable[Key]) -> set[tuple[str, str]]:
    """The rules and datasets whose chunk jobs the two runs split differently: chunk [0] of 2
    and chunk [0] of 1024 cover different bytes, so neither is compared with the other."""
    counts = [Counter(k[:2] for k in keys if k[2]) for keys in (now, before)]
    return {k for k in counts[0] if k in counts[1] and counts[0][k] != counts[1][k]}


def compare(jobs: Sequence[JobRow], baseline: dict[Key, float], *, factor: float) -> list[Change]:
    """Every job of either run; slower or faster when the ratio passes max(factor, 1 + spread);
    a chunk job of a rule the runs split into different numbers of chunks is new or only in the
    baseline."""
    noise = _noise(jobs)
    now = {_key(j): j for j in jobs}
    resplit = _resplit(now, baseline)
    pairs: list[tuple[Key, JobRow | None, float | None]] = []
    for key in sorted(set(now) | set(baseline)):
        if key[2] and key[:2] in resplit:
            pairs += [(key, now[key], None)] if key in now else []
            pairs += [(key, None, baseline[key])] if key in baseline else []
        else:
            pairs.append((key, now.get(key), baseline.get(key)))
    out = []
    for key, job, before in pairs:
        after = float(cell(job.wall_s)) if job else None  # as timings.csv holds it, as before
        ratio = after / before if after is not None and before else None
        limit = max(factor, 1 + noise.get(key[:2], 0.0)) if ratio is not None else None
        if job is None:
            mark = "only in the baseline"
        elif before is None:
            mark = "new"
        elif ratio is not None and limit is not None and ratio > limit:
            mark = "slower"
        elif ratio is not None and limit is not None and ratio < 1 / limit:
            mark = "faster"
        else:
            mark = "same within the spread"
        out.append(
            Change(
                rule=key[0],
                dataset=key[1],
                chunk=key[2],
                before_s=before,
                after_s=after,
                ratio=ratio,
                threshold=limit,
                mark=mark,
            )
        )
    return out


def changes_table(changes: Sequence[Change]) -> tuple[list[str], list[list[str]]]:
    """The comparison as the page shows it."""
    head = ["job", "before", "now", "ratio", "threshold", "mark"]
    rows = [
        [
            " ".join(p for p in (c.rule, c.dataset, f"[{c.chunk}]" if c.chunk else "") if p),
            seconds(c.before_s),
            seconds(c.after_s),
            times(c.ratio),
            times(c.threshold),
            c.mark,
        ]
        for c in changes
    ]
    return head, rows


def changes_summary(changes: Sequence[Change]) -> str:
    """One sentence: how many jobs got slower, faster, or stayed within the spread."""
    counts = Counter(c.mark for c in changes)
    unmatched = f", {counts['new']} new" if counts["new"] else ""
    if counts["only in the baseline"]:
        unmatched += f", {counts['only in the baseline']} only in the baseline"
    return (
        f"Against the baseline: {counted(counts['slower'], 'job')} slower, "
        f"{counts['faster']} faster, {counts['same within the spread']} the same within the "
        f"spread{unmatched} (a job counts as changed when its wall time moved by more than the "
        "larger of the configured factor and its rule's spread over chunks; chunk jobs are "
        "compared only where both runs split the data into as many chunks)."
    )
