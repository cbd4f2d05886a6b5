"""The scenario of a newcomer: the demo run, then a run on their own sheet in the same folder.
Both reports are kept (the second run writes over the first's results/report/)."""

from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..workflow_helpers import SMALL, snakemake, workflow_copy

DEMO = {**SMALL, "supervise": {"duration_s": 2}}
"""The default run on smaller demo data (the same stages, rules and report)."""


@dataclass(frozen=True)
class TwoRuns:
    """Where the two runs' reports are, and each run's console output."""

    workdir: Path
    demo: Path
    sheet: Path
    demo_out: str
    sheet_out: str


def run_ids(report_dir: Path) -> set[str]:
    """The run ids of timings.csv's rows."""
    with (report_dir / "timings.csv").open(newline="") as fh:
        return {row["run_id"] for row in csv.DictReader(fh)}


def rules_of(report_dir: Path) -> set[str]:
    """The rules of timings.csv's rows."""
    with (report_dir / "timings.csv").open(newline="") as fh:
        return {row["rule"] for row in csv.DictReader(fh)}


def demo_then_sheet(root: Path) -> TwoRuns:
    """Run the demo, keep its report, then a user sheet of one small sum dataset."""
    workdir = workflow_copy(root / "wf")
    first = snakemake(workdir, DEMO)
    assert first.returncode == 0, first.stderr[-3000:]
    demo = root / "demo-report"
    shutil.copytree(workdir / "results" / "report", demo)
    (workdir / "mine.txt").write_text("".join(f"{i}\n" for i in range(1, 5001)))
    (workdir / "sheet.tsv").write_text("name\tstage\tpath\nmine\tsum\tmine.txt\n")
    second = snakemake(workdir, {**DEMO, "datasets": "sheet.tsv"})
    assert second.returncode == 0, second.stderr[-3000:]
    return TwoRuns(
        workdir=workdir,
        demo=demo,
        sheet=workdir / "results" / "report",
        demo_out=first.stdout + first.stderr,
        sheet_out=second.stdout + second.stderr,
    )
