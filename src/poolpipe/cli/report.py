"""The `report` command: one run's timing report, optionally compared with an earlier run."""

from __future__ import annotations

import argparse
from pathlib import Path

from poolpipe.cli import options as opt
from poolpipe.core import check_input_folder, check_output_path, refuse_overlap
from poolpipe.core.outputs import write_stdout
from poolpipe.errors import PoolpipeError


def _cmd_report(args: argparse.Namespace) -> int:
    from poolpipe import report

    outputs = {name: Path(args.out, name) for name in ("report.html", "timings.csv", "summary.md")}
    results = Path(args.results)
    bench = {name: results / "bench" / f"{name}.tsv" for name in ("cpu", "ipc", "overhead")}
    refuse_overlap(
        inputs={"--baseline": args.baseline, **{f"bench {k}": v for k, v in bench.items()}},
        outputs={f"--out {name}": path for name, path in outputs.items()},
    )
    for path in outputs.values():
        check_output_path(path, "--out")
    check_input_folder(results, "--results folder")
    records = sorted((results / "timing").rglob("*.json"))
    if not records:
        raise PoolpipeError(f"no timing records under {str(results / 'timing')!r}; run first")
    built = report.build(
        records,
        scaling_tsv=bench["cpu"] if bench["cpu"].is_file() else None,
        ipc_tsv=bench["ipc"] if bench["ipc"].is_file() else None,
        overhead_tsv=bench["overhead"] if bench["overhead"].is_file() else None,
        baseline=args.baseline,
        judgement=report.Judgement(
            spread_limit=args.spread_limit,
            load_limit=args.load_limit,
            compare_factor=args.compare_factor,
        ),
        machine=report.describe(),
        run=args.run_id,
    )
    built.sections = report.result_sections(**_results_of(results, built))
    report.write(
        built,
        html_path=str(outputs["report.html"]),
        csv_path=str(outputs["timings.csv"]),
        summary_path=str(outputs["summary.md"]),
    )
    if built.changes is not None:
        marks = [c for c in built.changes if c.mark in ("slower", "faster")]
        for c in marks:
            write_stdout(f"{c.mark}\t{c.rule}\t{c.dataset}\t{c.chunk}\t{c.ratio:.3g}\n")
    if built.skipped:
        write_stdout(f"poolpipe: skipped {len(built.skipped)} unusable files (see the page)\n")
    write_stdout(f"poolpipe: report of run {built.run_id} written to {outputs['report.html']}\n")
    return 0


def _baseline(text: str) -> Path | None:
    """A --baseline: a timings.csv, or none when empty (as the config's "")."""
    return Path(text) if text else None


def _results_of(results: Path, built: object) -> dict:
    """The result files of the datasets the described run timed (never another run's datasets)."""
    from poolpipe import report

    mine = {j.dataset for j in built.jobs if j.dataset}  # type: ignore[attr-defined]
    rules = {j.rule for j in built.jobs + built.others}  # type: ignore[attr-defined]

    def of(pattern: str) -> list[Path]:
        return [p for p in sorted(results.glob(pattern)) if p.parent.name in mine]

    ticks = results / "supervise" / "ticks.tsv"
    return {
        "sum_totals": of("sum/*/total.json"),
        "train_models": of("train/*/model.json"),
        "predictions": of("predict/*/summary.json"),
        "crawl_summaries": of("crawl/*/summary.json"),
        "task_results": of("tasks/*/results.tsv"),
        "supervise": ticks if "supervise" in rules and ticks.is_file() else None,
        "supervise_note": report.from_another_run(built, "supervise"),
        "origin": lambda rule, dataset: report.from_another_run(built, rule, dataset),
    }


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add `report`."""
    p = sub.add_parser(
        "report", help="build the timing report of one run, optionally vs a baseline"
    )
    p.add_argument(
        "--results",
        type=opt.folder,
        default="results",
        help="the run's results/ (default: results)",
    )
    p.add_argument(
        "--out",
        type=opt.folder,
        default="results/report",
        help="folder for the three files (default: results/report)",
    )
    p.add_argument(
        "--run",
        dest="run_id",
        default=None,
        help="the run to describe (its id, as the report and timings.csv show it); "
        "default: the latest",
    )
    p.add_argument("--baseline", **opt.setting("report.baseline", default=None, type=_baseline))
    for name in ("spread_limit", "load_limit", "compare_factor"):
        p.add_argument(f"--{name.replace('_', '-')}", **opt.setting(f"report.{name}"))
    p.set_defaults(run=_cmd_report)
