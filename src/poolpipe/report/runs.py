"""Which run the report describes: every record names its run, and the report takes one run's
records (the latest by default), saying what it left out and from when."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from poolpipe.core.timing import run_started
from poolpipe.errors import PoolpipeError
from poolpipe.report.jobs import JobRow

NO_ID = "(none)"
"""The run of records written before records carried a run id."""


@dataclass(frozen=True, kw_only=True)
class RunChoice:
    """The run the report describes, its jobs, and the jobs of other runs it left out."""

    run_id: str
    jobs: list[JobRow]
    others: list[JobRow]


def _run(job: JobRow) -> str:
    return job.run_id or NO_ID


def _last_clock(jobs: Sequence[JobRow]) -> str:
    return max((j.ended_at or j.started_at or "" for j in jobs), default="")


def choose_run(jobs: Sequence[JobRow], run: str | None = None) -> RunChoice:
    """The records of one run: `run`, or the run whose last job ended last."""
    runs: dict[str, list[JobRow]] = {}
    for job in jobs:
        runs.setdefault(_run(job), []).append(job)
    if run is None:
        chosen = max(runs, key=lambda r: (_last_clock(runs[r]), r)) if runs else NO_ID
    elif run in runs:
        chosen = run
    else:
        known = ", ".join(sorted(runs)) or "none"
        raise PoolpipeError(f"run {run!r} has no timing records here (runs found: {known})")
    mine = runs.get(chosen, [])
    return RunChoice(run_id=chosen, jobs=mine, others=[j for j in jobs if _run(j) != chosen])


def when(run_id: str, jobs: Sequence[JobRow] = ()) -> str:
    """When a run started, in words: from its id, else from its first record's clock."""
    found = run_started(run_id)
    if found:
        return found
    first = min((j.started_at for j in jobs if j.started_at), default=None)
    return f"{first[:16].replace('T', ' ')} UTC" if first else "an unknown time"


def left_out(choice: RunChoice) -> str:
    """One sentence per other run: how many of its jobs the report left out, which, from when."""
    if not choice.others:
        return ""
    runs: dict[str, list[JobRow]] = {}
    for job in choice.others:
        runs.setdefault(_run(job), []).append(job)
    mine = _last_clock(choice.jobs)
    parts = []
    for run_id, jobs in sorted(runs.items(), key=lambda kv: _last_clock(kv[1])):
        rules = sorted({j.rule for j in jobs})
        named = ", ".join(rules[:4]) + (
            f" and {len(rules) - 4} more rules" if len(rules) > 4 else ""
        )
        age = "an earlier" if _last_clock(jobs) <= mine else "a later"
        parts.append(
            f"{len(jobs)} job{'s' if len(jobs) != 1 else ''} ({named}) of {age} run, {run_id}, "
            f"started {when(run_id, jobs)}"
        )
    return (
        "Left out of the timeline, the tables and timings.csv: "
        + "; ".join(parts)
        + ". Their results, where shown below, say which run made them."
    )


def origin(rule: str, choice: RunChoice, dataset: str | None = None) -> str:
    """'' when `rule` (for `dataset`, where given) ran in the described run, else a sentence
    saying which run it is from."""

    def made(j: JobRow) -> bool:
        return j.rule == rule and (dataset is None or j.dataset == dataset)

    if any(made(j) for j in choice.jobs):
        return ""
    theirs = [j for j in choice.others if made(j)]
    if not theirs:
        return ""
    run_id = _run(theirs[0])
    return f"From another run ({run_id}, started {when(run_id, theirs)}), not the one above. "
