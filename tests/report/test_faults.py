"""The report's fault catalogue: every file it reads is checked, and what fails is one sentence
(the file as a whole) or a skipped record with a count and its reason (one record or row);
an output is never one of its inputs."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import asdict
from pathlib import Path

import pytest

from poolpipe.core.timing import read_record
from poolpipe.errors import PoolpipeError
from poolpipe.report.compare import read_baseline
from poolpipe.report.page import build
from poolpipe.report.results import result_sections

from ..helpers import run_poolpipe, write_report
from .test_analysis import _record as timed

RUN = "20270115T080000Z-abc123"


def _record(rule="sum_chunk", chunk=0, wall=0.5, run=RUN, **extra) -> dict:
    """A good record's JSON object (run `run`), with `wall_s` and any other field replaced."""
    record = asdict(timed(rule, chunk, 0.0, 0.5))
    return {**record, "run_id": run, "wall_s": wall, **extra}


def _results(tmp_path: Path, *bad: tuple[str, str]) -> Path:
    """A results/ folder with one good record and the given (name, raw JSON text) records."""
    timing = tmp_path / "results" / "timing" / "sum_chunk" / "d"
    timing.mkdir(parents=True)
    (timing / "0.json").write_text(json.dumps(_record()))
    for name, text in bad:
        (timing / name).write_text(text)
    return tmp_path / "results"


def _report(*args: str) -> subprocess.CompletedProcess[str]:
    return run_poolpipe("report", *args)


BAD_RECORDS = [
    ("wall_s inf", json.dumps(_record(wall=float("inf"))), "wall_s inf is not a finite number"),
    ("wall_s -5", json.dumps(_record(wall=-5)), "wall_s -5 is not a finite number of at least 0"),
    ("wall_s 1e308", json.dumps(_record(wall=1e308)), "is more than 1e+07 seconds"),
    ("wall_s NaN", json.dumps(_record(wall=float("nan"))), "is not a finite number"),
    ("string wall_s", json.dumps(_record(wall="0.5")), "wall_s '0.5' is not a number"),
    ("bool processes", json.dumps(_record(processes=True)), "processes True is not a whole number"),
    ("rule with a newline", json.dumps(_record(rule="a\nb")), "holds a control character"),
    ("deep JSON", "[" * 100_000 + "]" * 100_000, "nests too deeply"),
    ("not an object", "[1, 2]", "it is not a JSON object"),
    ("not JSON", "{wall_s: 1", "it is not JSON"),
    ("missing field", json.dumps({"stage": "sum"}), "it lacks rule"),
    ("bad clock", json.dumps(_record(started_at="yesterday")), "is not a UTC time"),
    ("NUL bytes", "\0" * 64, "it is not JSON"),
]


@pytest.mark.parametrize(("name", "text", "says"), BAD_RECORDS, ids=[b[0] for b in BAD_RECORDS])
def test_a_bad_record_is_skipped_with_its_reason(tmp_path, name, text, says):
    path = tmp_path / "r.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=says.replace("+", r"\+")):
        read_record(path)
    results = _results(tmp_path, ("1.json", text))
    built = build(sorted((results / "timing").rglob("*.json")))
    assert [j.chunk for j in built.jobs] == [0]
    assert len(built.skipped) == 1 and says.split()[-1] in built.skipped[0].why


def test_the_page_counts_the_skipped_records_and_the_command_says_so(tmp_path):
    results = _results(
        tmp_path, *[(f"{i + 1}.json", text) for i, (_, text, _) in enumerate(BAD_RECORDS)]
    )
    done = _report("--results", str(results), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert f"skipped {len(BAD_RECORDS)} unusable files" in done.stdout
    page = (tmp_path / "out" / "report.html").read_text()
    assert f"Skipped {len(BAD_RECORDS)} files that could not be used" in page
    csv_rows = (tmp_path / "out" / "timings.csv").read_text().splitlines()
    assert len(csv_rows) == 2, "only the good record is a row"


def test_a_rule_name_with_a_pipe_keeps_summary_md_a_table(tmp_path):
    path = tmp_path / "results" / "timing" / "x" / "d" / "0.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(_record(rule="a|b", serial_wall_s=0.6)))
    built = build([path])
    out = tmp_path / "out"
    write_report(built, out)
    lines = (out / "s.md").read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if "a\\|b" in line and line.startswith("|"))
    header = next(lines[i - 1] for i in range(at, 0, -1) if lines[i].startswith("|---"))

    def cells(line: str) -> int:
        return len(line.replace("\\|", "").split("|")) - 2

    assert cells(lines[at]) == cells(header) == 8


BAD_BASELINES = [
    ("NUL bytes", b"\0" * 1000, "holds NUL bytes"),
    ("not a timings.csv", b"a,b\n1,2\n", "lacks rule, dataset, chunk, wall_s"),
    ("not UTF-8", b"rule,dataset,chunk,wall_s\n\xff\xfe,,,1\n", "not a readable CSV"),
]


@pytest.mark.parametrize(("name", "data", "says"), BAD_BASELINES, ids=[b[0] for b in BAD_BASELINES])
def test_a_bad_baseline_is_one_sentence(tmp_path, name, data, says):
    bad = tmp_path / "old.csv"
    bad.write_bytes(data)
    with pytest.raises(PoolpipeError, match=says):
        read_baseline(bad)
    results = _results(tmp_path)
    done = _report(
        "--results", str(results), "--out", str(tmp_path / "out"), "--baseline", str(bad)
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("poolpipe: error: baseline") and says in done.stderr


def test_baseline_rows_that_are_not_times_are_skipped_and_counted(tmp_path):
    old = tmp_path / "old.csv"
    old.write_text(
        "rule,dataset,chunk,wall_s\n"
        "sum_chunk,d,0,0.5\n"
        "merge_sum,d,,inf\nsplit,d,,-5\nother,d,,1e308\nx,d,,fast\n"
        '"a\nb",d,,1\n'
    )
    found, skipped = read_baseline(old)
    assert found == {("sum_chunk", "d", "0"): 0.5}
    assert len(skipped) == 5
    assert all("line" in s.path for s in skipped)
    built = build(sorted((_results(tmp_path) / "timing").rglob("*.json")), baseline=old)
    assert {c.mark for c in built.changes} == {"same within the spread"}
    assert all(c.ratio is None or 1e-3 < c.ratio < 1e3 for c in built.changes)


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def test_a_baseline_that_never_ends_is_refused_not_waited_on(tmp_path):
    results = _results(tmp_path)
    fifo = _fifo(tmp_path / "fifo.csv")
    for baseline, says in (
        (fifo, "is not a regular file"),
        (Path("/dev/zero"), "not a regular file"),
    ):
        done = _report(
            "--results", str(results), "--out", str(tmp_path / "o"), "--baseline", str(baseline)
        )
        assert done.returncode == 1 and "Traceback" not in done.stderr
        assert says in done.stderr
    sparse = tmp_path / "sparse.csv"
    with sparse.open("wb") as fh:
        fh.truncate(2 << 30)
    done = _report(
        "--results", str(results), "--out", str(tmp_path / "o"), "--baseline", str(sparse)
    )
    assert done.returncode == 1 and "is larger than" in done.stderr


def test_a_record_or_result_that_is_a_fifo_is_skipped_with_a_sentence(tmp_path):
    results = _results(tmp_path)
    _fifo(results / "timing" / "sum_chunk" / "d" / "1.json")
    built = build(sorted((results / "timing").rglob("*.json")))
    assert len(built.jobs) == 1 and "not a regular file" in built.skipped[0].why
    total = _fifo(tmp_path / "total.json")
    crawl = tmp_path / "crawl" / "u"
    crawl.mkdir(parents=True)
    (crawl / "summary.json").write_text("{}")
    _fifo(crawl / "pages.tsv")
    tasks = _fifo(tmp_path / "results.tsv")
    sections = result_sections(
        sum_totals=[total], crawl_summaries=[crawl / "summary.json"], task_results=[tasks]
    )
    texts = [s.text for s in sections]
    assert sum("not a regular file" in t for t in texts) == 3, texts


def test_a_result_of_deep_json_is_a_sentence(tmp_path):
    total = tmp_path / "d" / "total.json"
    total.parent.mkdir()
    total.write_text("[" * 100_000)
    (section,) = result_sections(sum_totals=[total])
    assert section.text.startswith("Not shown: result") and "nests too deeply" in section.text


def test_an_output_that_is_the_baseline_is_refused_before_any_work(tmp_path):
    results = _results(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    baseline = out / "timings.csv"
    baseline.write_text("rule,dataset,chunk,wall_s\nsum_chunk,d,0,0.5\n")
    before = baseline.read_bytes()
    done = _report("--results", str(results), "--out", str(out), "--baseline", str(baseline))
    assert done.returncode == 1 and "is the same file as --baseline" in done.stderr
    assert baseline.read_bytes() == before and not (out / "report.html").exists()
    link_out = tmp_path / "linked"
    link_out.mkdir()
    (link_out / "summary.md").symlink_to(baseline)
    done = _report("--results", str(results), "--out", str(link_out), "--baseline", str(baseline))
    assert done.returncode == 1 and "is the same file as --baseline" in done.stderr
    assert baseline.read_bytes() == before


def test_a_bench_table_that_never_ends_or_holds_no_time_is_one_sentence(tmp_path):
    from poolpipe.report.benches import read_ipc, read_overhead, read_scaling

    fifo = _fifo(tmp_path / "cpu.tsv")
    with pytest.raises(PoolpipeError, match="is not a regular file"):
        read_scaling(fifo)
    bad = tmp_path / "bad.tsv"
    bad.write_text("processes\twall_s\truns\tspeedup\tefficiency\n1\tinf\t1\t1\t1\n")
    with pytest.raises(PoolpipeError, match="not a table bench_cpu wrote: 'inf' is not a finite"):
        read_scaling(bad)
    bad.write_text("method\tsize\tmessages\tlatency_us\tthroughput_mb_s\npipe\t1\t1\t-5\t1\n")
    with pytest.raises(PoolpipeError, match="not a table bench_ipc wrote: '-5' is not a finite"):
        read_ipc(bad)
    bad.write_bytes(b"\xff\xfe")
    with pytest.raises(PoolpipeError, match="not a table bench_overhead wrote"):
        read_overhead(bad)


@pytest.mark.parametrize(
    ("results", "sentence"),
    [
        ("nope", "--results folder 'nope' does not exist"),
        ("file.txt", "--results folder 'file.txt' is not a folder"),
        (".", "no timing records under 'timing'; run first"),
    ],
)
def test_a_results_folder_that_is_not_one_is_named_as_such(
    tmp_path, monkeypatch, capsys, results, sentence
):
    from poolpipe.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "file.txt").write_text("x\n")
    assert main(["report", "--results", results, "--out", "out"]) == 1
    assert capsys.readouterr().err == f"poolpipe: error: {sentence}\n"
