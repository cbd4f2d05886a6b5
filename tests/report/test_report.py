"""The timing report: its CSV equals the records, its page holds every plot and the same numbers."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from poolpipe.bench.cpu import (
    ScalingPoint,
    amdahl_serial_fraction,
    amdahl_speedup,
    cpu_scaling,
    heavy_computation,
    split_work,
)
from poolpipe.bench.ipc import METHODS, measure, messages_for
from poolpipe.core import tsv
from poolpipe.core.timing import TimingRecord, write_record
from poolpipe.report.cells import cell, seconds
from poolpipe.report.jobs import PAGE_HEAD, benchmark_path_for, timings_csv
from poolpipe.report.machine import describe
from poolpipe.report.page import build
from poolpipe.report.sections import crawl_section, train_section

from ..helpers import write_report
from ..workflow_helpers import LOCAL_ENV, SMALL, SNAKEMAKE, snakemake, workflow_copy


class _Page(HTMLParser):
    """Collects the page's images and tables."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs)["src"])
        elif tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell))
            self._cell = None


def _records(tmp_path: Path, second_serial: float | None = None) -> list[Path]:
    timing = tmp_path / "results" / "timing"
    bench = tmp_path / "results" / "benchmarks"
    records = [
        TimingRecord(
            stage="sum",
            rule="sum_chunk",
            chunk=0,
            processes=2,
            wall_s=0.5,
            cpu_s=0.9,
            items=100,
            bytes=1_000_000,
            serial_wall_s=0.8,
        ),
        TimingRecord(
            stage="sum",
            rule="sum_chunk",
            chunk=1,
            processes=2,
            wall_s=0.25,
            cpu_s=0.4,
            items=50,
            bytes=500_000,
            serial_wall_s=second_serial,
        ),
        TimingRecord(
            stage="sum",
            rule="merge_sum",
            chunk=None,
            processes=1,
            wall_s=0.01,
            cpu_s=0.01,
            items=150,
            bytes=1_500_000,
        ),
    ]
    paths = [
        timing / "sum_chunk" / "0.json",
        timing / "sum_chunk" / "1.json",
        timing / "merge_sum.json",
    ]
    for path, record in zip(paths, records, strict=True):
        write_record(path, record)
    (bench / "sum_chunk").mkdir(parents=True)
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    (bench / "sum_chunk" / "0.tsv").write_text(header + "0.9\t0:00:00\t55.5\t1\t1\t1\t0\t0\t0\t1\n")
    (bench / "merge_sum.tsv").write_text(header + "0.2\t0:00:00\tNA\tNA\tNA\tNA\t0\t0\t0\t0\n")
    return paths


def test_csv_rows_match_the_records(tmp_path):
    built = build(_records(tmp_path))
    rows = list(csv.DictReader(io.StringIO(timings_csv(built.jobs))))
    assert [(r["rule"], r["chunk"]) for r in rows] == [
        ("merge_sum", ""),
        ("sum_chunk", "0"),
        ("sum_chunk", "1"),
    ]
    merge, first, second = rows
    assert (first["processes"], first["wall_s"], first["items"], first["bytes"]) == (
        "2",
        "0.5",
        "100",
        "1000000",
    )
    assert first["max_rss_mb"] == "55.5" and first["job_s"] == "0.9"
    assert first["mb_s"] == "2" and first["items_per_s"] == "200"
    assert first["serial_wall_s"] == "0.8" and first["cpu_share"] == "0.9"
    assert first["speedup"] == "1.6" and first["efficiency"] == "0.8"
    assert second["max_rss_mb"] == "" and second["serial_wall_s"] == "" and second["speedup"] == ""
    assert merge["max_rss_mb"] == "" and merge["job_s"] == "0.2"


def test_stage_rows_take_the_chunk_jobs_and_never_invent_a_serial_time(tmp_path):
    built = build(_records(tmp_path))
    (stage,) = built.stages
    assert (stage.stage, stage.jobs, stage.wall_s, stage.bytes) == ("sum", 2, 0.75, 1_500_000)
    assert stage.serial_wall_s is None and stage.speedup == pytest.approx(1.6)
    assert stage.verdict == "pays (one measurement, no spread)"


def test_stage_speedup_when_every_chunk_was_timed_alone(tmp_path):
    built = build(_records(tmp_path / "a", second_serial=0.4))
    (stage,) = built.stages
    assert stage.serial_wall_s == pytest.approx(1.2) and stage.speedup == pytest.approx(1.6)
    assert (stage.speedup_min, stage.speedup_max, stage.speedup_iqr) == pytest.approx((1.6, 1.6, 0))
    assert stage.verdict == "pays"


def test_page_holds_every_plot_and_the_csvs_numbers(tmp_path):
    points = [
        ScalingPoint(processes=1, wall_s=4.0, runs=(4.0,), speedup=1.0, efficiency=1.0),
        ScalingPoint(processes=2, wall_s=2.2, runs=(2.2,), speedup=4 / 2.2, efficiency=4 / 2.2 / 2),
        ScalingPoint(processes=4, wall_s=1.3, runs=(1.3,), speedup=4 / 1.3, efficiency=4 / 1.3 / 4),
    ]
    tsv.write_records(tmp_path / "cpu.tsv", points)
    ipc = [measure(m, size, 3) for size in (1024, 65536) for m in METHODS]
    tsv.write_records(tmp_path / "ipc.tsv", ipc)
    records = _records(tmp_path, second_serial=0.4)
    built = build(
        records, scaling_tsv=tmp_path / "cpu.tsv", ipc_tsv=tmp_path / "ipc.tsv", machine=describe()
    )
    out = tmp_path / "out"
    write_report(built, out)

    page = _Page()
    page.feed((out / "r.html").read_text())
    assert len(page.images) == 3  # stages, scaling, IPC (these records carry no clock times)
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    text = (out / "r.html").read_text()
    assert not re.search(r'(?:src|href)="(?!data:)', text), (
        "the page must load nothing from outside"
    )
    assert "<script" not in text and "<link" not in text

    jobs_table = page.tables[-1]
    assert jobs_table[0] == list(PAGE_HEAD)
    csv_rows = list(csv.DictReader(io.StringIO((out / "t.csv").read_text())))
    assert len(jobs_table) == len(csv_rows) + 1
    for page_row, csv_row in zip(jobs_table[1:], csv_rows, strict=True):
        assert page_row[0].startswith(csv_row["rule"])
        assert page_row[1] == csv_row["processes"]
        assert page_row[2] == seconds(float(csv_row["wall_s"]))
        number, unit = page_row[2].split()
        factor = {"s": 1, "ms": 1e-3, "µs": 1e-6}[unit]
        _same_to_three_figures(str(float(number) * factor), csv_row["wall_s"])
    assert "missing" not in text and "" in jobs_table[1]
    assert (
        "Measured on: AMD" in (out / "r.html").read_text()
        or "Measured on:" in (out / "r.html").read_text()
    )
    assert (out / "s.md").read_text().startswith("# poolpipe timing summary")


def _same_to_three_figures(page: str, csv_text: str) -> None:
    """A page cell shows the CSV's value: the same text, or the same number to 3 figures."""
    try:
        number = float(csv_text)
    except ValueError:
        assert page == csv_text
        return
    assert float(page.replace("\u2009", "")) == pytest.approx(number, rel=5e-3)


def test_amdahl_fit_recovers_a_known_serial_fraction():
    points = [
        ScalingPoint(
            processes=p,
            wall_s=1 / amdahl_speedup(0.1, p),
            runs=(),
            speedup=amdahl_speedup(0.1, p),
            efficiency=0,
        )
        for p in (1, 2, 4, 8, 16)
    ]
    assert amdahl_serial_fraction(points) == pytest.approx(0.1, abs=1e-12)
    assert amdahl_serial_fraction(points[:1]) is None


def test_the_split_work_is_the_whole_work():
    assert split_work(10, 3) == [4, 3, 3]
    assert heavy_computation(10) == 45


def test_cpu_scaling_runs_at_each_process_count():
    points = cpu_scaling(20_000, [1, 2], repeats=2)
    assert [p.processes for p in points] == [1, 2]
    assert all(len(p.runs) == 2 and p.wall_s > 0 for p in points)
    assert points[0].speedup == 1.0


@pytest.mark.parametrize("method", METHODS)
def test_each_ipc_method_delivers_the_bytes(method):
    point = measure(method, 100_000, 3)
    assert point.method == method and point.messages == 3 and point.throughput_mb_s > 0


def test_messages_per_size_stay_in_budget():
    assert messages_for(1024, 1 << 20) == 200
    assert messages_for(64 << 20, 64 << 20) == 3


def test_benchmark_path_mirrors_the_record_path():
    assert benchmark_path_for("results/timing/sum_chunk/3.json") == Path(
        "results/benchmarks/sum_chunk/3.tsv"
    )


@pytest.mark.integration
def test_snakemake_report_works_on_the_small_config(tmp_path):
    workdir = workflow_copy(tmp_path / "wf")
    run = snakemake(workdir, SMALL)
    assert run.returncode == 0, run.stderr[-3000:]
    for name in ("report.html", "timings.csv", "summary.md"):
        assert (workdir / "results/report" / name).stat().st_size > 0
    rows = list(csv.DictReader((workdir / "results/report/timings.csv").open()))
    records = sorted((workdir / "results/timing").rglob("*.json"))
    assert len(rows) == len(records)
    by_key = {(r["rule"], r["chunk"]): r for r in rows}
    for path in records:
        record = json.loads(path.read_text())
        row = by_key[(record["rule"], "" if record["chunk"] is None else str(record["chunk"]))]
        assert row["wall_s"] == cell(record["wall_s"])
        assert row["items"] == str(record["items"]) and row["bytes"] == str(record["bytes"])
    cpu = list(csv.DictReader((workdir / "results/bench/cpu.tsv").open(), delimiter="\t"))
    assert [r["processes"] for r in cpu] == ["1", "2"]
    snakemake_html = subprocess.run(
        [SNAKEMAKE, "--report", "results/report/snakemake.html"],
        cwd=workdir,
        env=LOCAL_ENV,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert snakemake_html.returncode == 0, snakemake_html.stderr[-3000:]
    assert (workdir / "results/report/snakemake.html").stat().st_size > 10_000


def test_train_section_shows_each_methods_error_and_says_when_it_is_missing():
    model = {
        "rows": 100,
        "chunks": 4,
        "max_abs_diff_from_full_fit": {
            "exact": {"coef": 4e-15, "intercept": 0.0},
            "average": {"coef": 3e-7, "intercept": 2e-7},
        },
    }
    section = train_section(model)
    assert section.table == (
        ["method", "coef", "intercept"],
        [
            ["exact", "4e-15", "0"],
            ["average", "3e-7", "2e-7"],
        ],
    )
    assert section.png[:4] == b"\x89PNG"
    missing = train_section({"rows": 1, "chunks": 1, "max_abs_diff_from_full_fit": None})
    # off, or a user's dataset that does not opt in: the report cannot tell which, so it says both
    assert missing.png is None and "none was made (train.compare_full_fit applies to the demo" in (
        missing.text
    )


def test_crawl_section_plots_every_fetched_rows_latency(tmp_path):
    pages = tmp_path / "pages.tsv"
    pages.write_text(
        "line\turl\tfinal_url\tstatus\tbytes\telapsed_ms\tattempts\terror\tdetail\n"
        "1\thttp://a/\thttp://a/\t200\t5\t48\t1\t\t\n"
        "2\tfile:///x\t\t\t0\t\t0\tscheme\t\n"
        "3\thttp://a/b\thttp://a/b\t200\t5\t12\t1\t\t\n"
    )
    summary = {"ok": 2, "errors": 1, "timing": {"latency_ms": {"p50": 30}, "pages_per_s": 9.5}}
    section = crawl_section(pages, summary | {"bytes": 2_000_000})
    assert section.table[1] == [["2", "30 ms", "", "", "", "9.5", "2 MB", ""]]
    summary["timing"]["wall_s"] = 4.0
    section = crawl_section(pages, summary | {"bytes": 2_000_000})
    assert section.table[1][0][-2:] == ["2 MB", "500 KB/s"]
    assert "2 URLs were attempted (URLs/s counts them); 2 of them got a success status" in (
        section.text
    )
    assert section.table[0][0] == "attempted URLs" and section.table[0][5] == "URLs/s"
    assert section.png[:4] == b"\x89PNG"
