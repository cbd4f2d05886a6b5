"""The timing report's record: every number the page, the CSV and the summary show, and how
they are judged."""

from __future__ import annotations

from dataclasses import dataclass, field

from poolpipe.bench import IpcPoint, OverheadPoint, ScalingPoint
from poolpipe.report.compare import Change
from poolpipe.report.jobs import JobRow, Skipped
from poolpipe.report.machine import Machine
from poolpipe.report.sections import Section
from poolpipe.report.stages import Bar, StageRow


@dataclass(frozen=True, kw_only=True)
class Judgement:
    """How the report judges its numbers: spread, load, and a change against a baseline."""

    spread_limit: float = 0.25
    load_limit: float = 0.25
    compare_factor: float = 1.1


@dataclass(kw_only=True)
class TimingReport:
    """Everything the page, the CSV and the summary show."""

    jobs: list[JobRow]
    stages: list[StageRow]
    bars: list[Bar] = field(default_factory=list)
    scaling: list[ScalingPoint] = field(default_factory=list)
    serial_fraction: float | None = None
    ipc: list[IpcPoint] = field(default_factory=list)
    overhead: list[OverheadPoint] = field(default_factory=list)
    changes: list[Change] | None = None
    baseline: str | None = None
    judgement: Judgement = field(default_factory=Judgement)
    machine: Machine | None = None
    sections: list[Section] = field(default_factory=list)
    run_id: str = ""
    run_when: str = ""
    others: list[JobRow] = field(default_factory=list)
    """Jobs of other runs: left out of the timeline, the tables and the CSV."""
    skipped: list[Skipped] = field(default_factory=list)
    """Records and files the report could not use, with why."""
