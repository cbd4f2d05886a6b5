"""What each stage produced, one short section per dataset: the sum's total and bad lines, the
model, the crawl's outcomes, the tasks' outcomes and the supervised loops.

Every file is read with a bound (a result a run wrote is small; pages.tsv and results.tsv are
streamed), and a file that cannot be used is a sentence in its section, never a traceback.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from poolpipe.core import tsv
from poolpipe.core.bigints import decimal_to_int, int_to_decimal
from poolpipe.core.inputs import check_input_file, read_small_file
from poolpipe.core.outputs import r2_label
from poolpipe.core.pool import exit_text
from poolpipe.errors import PoolpipeError
from poolpipe.report.cells import count, counted, grouped, p_value, sig3, size
from poolpipe.report.sections import (
    Section,
    crawl_section,
    fit_section,
    predict_section,
    train_section,
)

RESULT_LIMIT = 16 << 20
"""The largest JSON result read (bytes): a total, a model or a summary is a few KB."""
TSV_LIMIT = 1 << 30
"""The largest pages.tsv or results.tsv read (bytes), streamed a line at a time."""
TOP = 12
"""Rows a count table shows; the rest are summed into one row."""


def read_result(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A JSON result as a dict, read with a bound, or one sentence."""
    data = read_small_file(path, label="result", limit=RESULT_LIMIT)
    try:
        found = json.loads(data.decode("utf-8"), parse_int=decimal_to_int)  # a total of any size
    except RecursionError:
        raise PoolpipeError(f"result {os.fspath(path)!r} nests too deeply") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PoolpipeError(f"result {os.fspath(path)!r} is not JSON ({exc})") from None
    if not isinstance(found, dict):
        raise PoolpipeError(f"result {os.fspath(path)!r} is not a JSON object")
    return found


def _dataset(path: str | os.PathLike[str]) -> str:
    return Path(path).parent.name


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _total(value: object) -> tuple[str, str]:
    """A sum's exact total as the page shows it, and where its digits are when it is rounded:
    every digit up to 20, else about its first four figures (half up) and its exponent."""
    n = _int(value)
    digits = int_to_decimal(abs(n)) if n is not None else ""
    if n is None or len(digits) <= 20:
        return str(value), ""
    lead = int(digits[:4]) + (digits[4] >= "5")  # half up: 1.2345e29 is shown as 1.235e29
    exponent = len(digits) - 1 + (lead == 10_000)
    shown = str(lead // 10 if lead == 10_000 else lead)
    text = f"about {'-' if n < 0 else ''}{shown[0]}.{shown[1:]}e{exponent}"
    return text, f" ({len(digits)} digits, in total.json)"


def _exact(value: int | None) -> str:
    return "" if value is None else grouped(value)


def sum_section(total: dict[str, Any], *, dataset: str) -> Section:
    """The sum's result: the total, how many numbers, and the bad and blank lines."""
    bad, blank = _int(total.get("bad_lines")) or 0, _int(total.get("blank_lines")) or 0
    examples = total.get("bad_examples") or []
    first = ""
    if bad and isinstance(examples, list) and examples and isinstance(examples[0], dict):
        ex = examples[0]
        why = ex.get("reason")
        first = f" The first bad line is line {ex.get('line')}" + (
            f" ({why})." if isinstance(why, str) and why else "."
        )
    shown, where = _total(total.get("total"))
    return Section(
        title=f"Sum: result ({dataset})",
        text=f"{counted(_int(total.get('numbers')), 'number')} in {size(_int(total.get('bytes')))} "
        f"add up to {shown}{where}. {grouped(bad)} bad line{'s' if bad != 1 else ''} "
        f"(counted, not summed) and {grouped(blank)} blank.{first}",
        table=(
            ["total", "numbers", "lines", "bad lines", "blank lines", "size"],
            [
                [
                    shown,
                    # every digit: 60 M numbers and 60 M lines would hide the bad and blank ones
                    _exact(_int(total.get("numbers"))),
                    _exact(_int(total.get("lines"))),
                    grouped(bad),
                    grouped(blank),
                    size(_int(total.get("bytes"))),
                ]
            ],
        ),
    )


def model_section(model: dict[str, Any], *, dataset: str) -> Section:
    """The fitted model in one paragraph: what predicts what, how well, from how many rows."""
    exact = model.get("exact") if isinstance(model.get("exact"), dict) else {}
    features = model.get("features") if isinstance(model.get("features"), list) else []
    skipped = model.get("skipped_rows") if isinstance(model.get("skipped_rows"), dict) else {}
    bad = _int(skipped.get("count")) or 0
    weightless = _int(model.get("skipped_weights")) or 0
    r2 = exact.get("r2")
    fit = f"{r2_label(exact)} {sig3(r2) if isinstance(r2, int | float) else 'undefined'}"
    rmse = exact.get("rmse")
    if isinstance(rmse, int | float):
        fit += f", residual RMSE {sig3(rmse)}"
    f_p = exact.get("f_p")
    if isinstance(f_p, int | float):
        fit += f", F-test p {p_value(f_p)}"
    names = ", ".join(str(f) for f in features[:6]) + (" ..." if len(features) > 6 else "")
    return Section(
        title=f"Train: model ({dataset})",
        text=f"{model.get('target')} predicted from {counted(len(features), 'column')} ({names}) "
        f"over {counted(_int(model.get('rows')), 'row')} in "
        f"{counted(_int(model.get('chunks')), 'chunk')}: {fit}. "
        f"{counted(bad, 'row')} skipped as bad"
        + (f", {count(weightless)} with a weight of 0 or below left out." if weightless else "."),
    )


def crawl_outcomes(summary: dict[str, Any], *, dataset: str) -> Section:
    """How the crawl's URLs ended: HTTP status codes and error kinds, each with its count."""
    rows_n = _int(summary.get("rows")) or 0
    ok, errors = _int(summary.get("ok")) or 0, _int(summary.get("errors")) or 0
    by_status = summary.get("by_status") if isinstance(summary.get("by_status"), dict) else {}
    by_error = summary.get("by_error") if isinstance(summary.get("by_error"), dict) else {}
    table = [[f"HTTP status {k}", str(v)] for k, v in by_status.items()]
    table += [[f"error: {k}", str(v)] for k, v in by_error.items()]
    # a refused answer (too_large, for one) has a status and an error: it is in both rows
    both = sum(_int(v) or 0 for v in (*by_status.values(), *by_error.values())) - rows_n
    twice = (
        f" {counted(both, 'URL')} with an answer that ended in an error"
        f" count{'s' if both == 1 else ''} under both "
        "(too large, for one), so the table adds up to more than the URLs."
        if both > 0
        else ""
    )
    unchanged = _int(by_status.get("304")) or 0
    repeats = _int(by_error.get("duplicate")) or 0
    other = max(0, rows_n - ok - errors - unchanged)  # answered 3xx-5xx, no error row
    return Section(
        title=f"Crawl: outcomes ({dataset})",
        text=f"Of {counted(rows_n, 'URL')}, {counted(ok, 'URL')} "
        f"{'was' if ok == 1 else 'were'} fetched with a success status (2xx)"
        + (f", {count(unchanged)} unchanged since the previous crawl (304)" if unchanged else "")
        + (f", {count(other)} answered with another status" if other else "")
        + f" and {counted(errors, 'URL')} ended in an error row"
        + (f" ({count(repeats)} of them repeats of an earlier line)" if repeats else "")
        + " (each with its reason in pages.tsv). "
        f"{counted(_int(summary.get('retries')) or 0, 'retry', 'retries')}; "
        f"{size(_int(summary.get('bytes')))} downloaded.{twice}",
        table=(["outcome", "URLs"], _top(table)),
    )


def _top(rows: list[list[str]]) -> list[list[str]]:
    """The rows, the largest counts kept in their order and the smallest folded into one."""
    if len(rows) <= TOP:
        return rows
    kept = set(sorted(range(len(rows)), key=lambda i: -int(rows[i][1]))[: TOP - 1])
    rest = sum(int(r[1]) for i, r in enumerate(rows) if i not in kept)
    return [
        *(r for i, r in enumerate(rows) if i in kept),
        [f"{len(rows) - TOP + 1} others", str(rest)],
    ]


def tasks_section(results_tsv: str | os.PathLike[str], *, dataset: str) -> Section:
    """The task queue's outcomes: how many succeeded, how many failed and why, per operation."""
    check_input_file(results_tsv)
    ops: Counter[tuple[str, str]] = Counter()
    errors: Counter[str] = Counter()
    retried = 0
    with open(results_tsv, encoding="utf-8", errors="replace", newline="") as fh:
        head = fh.readline().rstrip("\n").split("\t")
        at = {name: i for i, name in enumerate(head)}
        if not {"op", "ok", "error"} <= set(at):
            raise PoolpipeError(f"{os.fspath(results_tsv)!r} is not a tasks results.tsv")
        for line in fh:
            cells = line.rstrip("\n").split("\t")
            if len(cells) != len(head):
                continue
            ok = cells[at["ok"]] == "true"
            op = tsv.unescape(cells[at["op"]]) or "(no operation)"
            ops[(op, "done" if ok else "failed")] += 1
            if not ok:
                errors[tsv.unescape(cells[at["error"]])] += 1  # whole: a reason may hold a path
            if "attempts" in at and cells[at["attempts"]] not in ("", "0", "1"):
                retried += 1
    done = sum(n for (_, state), n in ops.items() if state == "done")
    failed = sum(n for (_, state), n in ops.items() if state == "failed")
    table = [[f"{op}: {state}", str(n)] for (op, state), n in ops.most_common()]
    why = [[f"failed because: {w or '(no message)'}", str(n)] for w, n in errors.most_common()]
    return Section(
        title=f"Tasks: outcomes ({dataset})",
        text=f"{counted(done + failed, 'task')}: {done} done, {failed} failed (each with its "
        f"error in results.tsv); {retried} needed more than one attempt."
        + (
            f" The table counts the tasks by operation, then the failed ones again by reason, "
            f"so its rows add up to {done + 2 * failed}."
            if failed
            else ""
        ),
        table=(["outcome", "tasks"], _top(table) + _top(why)),
    )


def _ended(code: str) -> str:
    """An exit code of ticks.tsv in words: 'exit code 0', 'signal SIGTERM' (as pool errors)."""
    try:
        return exit_text(int(code))
    except ValueError:
        return code


def supervise_section(ticks_tsv: str | os.PathLike[str], *, note: str = "") -> Section:
    """The supervised loops: each one's ticks, restarts and how it ended."""
    data = read_small_file(ticks_tsv, label="supervise result", limit=RESULT_LIMIT)
    reader = csv.DictReader(io.StringIO(data.decode("utf-8", "replace")), delimiter="\t")
    rows = [
        [
            tsv.unescape(r.get("process") or ""),
            r.get("ticks") or "",
            r.get("restarts") or "",
            _ended(r.get("exit_code") or ""),
            tsv.unescape(r.get("status") or ""),
        ]
        for r in reader
    ]
    restarts = sum(int(r[2]) for r in rows if r[2].isdigit())
    return Section(
        title="Supervise: the loops",
        text=f"{note}{counted(len(rows), 'loop or program', 'loops and programs')} ran under "
        "the supervisor; "
        f"{restarts} restart{'s' if restarts != 1 else ''} in all. A loop's status says how it "
        "ended.",
        table=(["loop or program", "ticks or heartbeats", "restarts", "ended by", "status"], rows),
    )


def _guarded(title: str, build: Any, *args: Any, **kwargs: Any) -> list[Section]:
    """The sections build() makes, or one that says in a sentence why the file was not shown."""
    try:
        made = build(*args, **kwargs)
    except (PoolpipeError, OSError, ValueError, KeyError, TypeError) as exc:
        why = str(exc) if isinstance(exc, PoolpipeError) else f"{type(exc).__name__}: {exc}"
        return [Section(title=title, text=f"Not shown: {why}.")]
    return made if isinstance(made, list) else [made]


MADE_BY = {"sum": "merge_sum", "train": "merge_train", "predict": "predict"}
MADE_BY |= {"crawl": "merge_crawl", "tasks": "run_tasks"}
"""The job that writes each stage's result file: the run it ran in made the result."""


def _dated(sections: list[Section], note: str) -> list[Section]:
    """The sections, the first one's text led by a note (which run made them), where given."""
    if not note or not sections:
        return sections
    return [replace(sections[0], text=note + sections[0].text), *sections[1:]]


def result_sections(
    *,
    sum_totals: Sequence[str | os.PathLike[str]] = (),
    train_models: Sequence[str | os.PathLike[str]] = (),
    predictions: Sequence[str | os.PathLike[str]] = (),
    crawl_summaries: Sequence[str | os.PathLike[str]] = (),
    task_results: Sequence[str | os.PathLike[str]] = (),
    supervise: str | os.PathLike[str] | None = None,
    supervise_note: str = "",
    origin: Callable[[str, str], str] | None = None,
) -> list[Section]:
    """Every stage's results, a section or two per dataset, in stage order; origin(rule, dataset)
    is the note a dataset's sections open with when another run than the report's made them."""

    def train(p: str | os.PathLike[str], n: str) -> list[Section]:
        model = read_result(p)
        return [
            model_section(model, dataset=n),
            fit_section(model, dataset=n),
            train_section(model, dataset=n),
        ]

    def crawl(p: str | os.PathLike[str], n: str) -> list[Section]:
        summary = read_result(p)
        pages = Path(p).with_name("pages.tsv")
        return [crawl_outcomes(summary, dataset=n), crawl_section(pages, summary, dataset=n)]

    stages: list[tuple[str, str, Sequence[str | os.PathLike[str]], Any]] = [
        ("sum", "Sum", sum_totals, lambda p, n: sum_section(read_result(p), dataset=n)),
        ("train", "Train", train_models, train),
        (
            "predict",
            "Predict",
            predictions,
            lambda p, n: predict_section(read_result(p), dataset=n),
        ),
        ("crawl", "Crawl", crawl_summaries, crawl),
        ("tasks", "Tasks", task_results, lambda p, n: tasks_section(p, dataset=n)),
    ]
    out: list[Section] = []
    for stage, title, paths, build in stages:
        for path in paths:
            name = _dataset(path)
            note = origin(MADE_BY[stage], name) if origin else ""
            out += _dated(_guarded(f"{title} ({name})", build, path, name), note)
    if supervise is not None:
        out += _guarded("Supervise", supervise_section, supervise, note=supervise_note)
    return out
