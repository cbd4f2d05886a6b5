"""The report's analysis: timeline, spread, overhead fit, load flags and the baseline comparison."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from poolpipe.bench import CostModel, Timed, fit_cost_model, measure_overhead
from poolpipe.core.timing import TimingRecord, utc_iso, write_record
from poolpipe.errors import PoolpipeError
from poolpipe.report.cells import speedup_verdict, spread_of
from poolpipe.report.compare import NEEDED, compare, read_baseline
from poolpipe.report.explain import StageCost, plain_sentence, stage_sentence
from poolpipe.report.jobs import collect_jobs, timings_csv
from poolpipe.report.page import build
from poolpipe.report.stages import busy_seconds, stage_rows, timeline

T0 = 1_800_000_000.0


def _record(rule, chunk, start, wall, *, serial=None, load=None, stage="sum", size=1_000_000):
    return TimingRecord(
        stage=stage,
        rule=rule,
        chunk=chunk,
        processes=2,
        wall_s=wall,
        cpu_s=wall * 1.5,
        items=1000,
        bytes=size,
        serial_wall_s=serial,
        started_at=utc_iso(T0 + start),
        ended_at=utc_iso(T0 + start + wall),
        load=load,
        serial_started_at=utc_iso(T0 + start + wall) if serial else None,
        serial_ended_at=utc_iso(T0 + start + wall + serial) if serial else None,
    )


def _write(tmp_path, records):
    paths = []
    for r in records:
        name = f"{r.rule}/data/{r.chunk}.json" if r.chunk is not None else f"{r.rule}/data.json"
        path = tmp_path / "results" / "timing" / name
        write_record(path, r)
        paths.append(path)
    return paths


def test_a_stage_takes_its_time_on_the_timeline_not_the_sum_of_parallel_jobs(tmp_path):
    records = [
        _record("sum_chunk", 0, 0.0, 2.0),
        _record("sum_chunk", 1, 1.0, 2.0),  # overlaps chunk 0 by one second
        _record("sum_chunk", 2, 5.0, 1.0),
        _record("train_chunk", 0, 3.0, 1.0, stage="train"),
    ]
    jobs, _ = collect_jobs(_write(tmp_path, records))
    by_stage = {s.stage: s for s in stage_rows(jobs)}
    assert by_stage["sum"].wall_s == pytest.approx(4.0)  # 0..3 and 5..6
    assert by_stage["sum"].span_s == pytest.approx(6.0)
    assert by_stage["sum"].mb_s == pytest.approx(3 / 4.0)
    assert by_stage["train"].unit == "rows" and by_stage["sum"].unit == "numbers"
    bars = timeline(jobs)
    assert [(b.label, b.start_s, b.end_s) for b in bars][:2] == [
        ("sum_chunk data [0]", 0.0, pytest.approx(2.0)),
        ("sum_chunk data [1]", pytest.approx(1.0), pytest.approx(3.0)),
    ]
    assert {b.stage for b in bars} == {"sum", "train"}


def test_busy_seconds_counts_overlaps_once():
    assert busy_seconds([]) == 0
    assert busy_seconds([(0, 1), (0.5, 2), (3, 4), (3.5, 3.6)]) == pytest.approx(3.0)


def test_the_one_process_rerun_is_its_own_hatched_bar_and_no_part_of_the_stage(tmp_path):
    jobs, _ = collect_jobs(_write(tmp_path, [_record("sum_chunk", 0, 0.0, 1.0, serial=1.5)]))
    bars = timeline(jobs)
    assert [b.serial for b in bars] == [False, True]
    assert bars[1].start_s == pytest.approx(1.0) and bars[1].end_s == pytest.approx(2.5)
    (stage,) = stage_rows(jobs)
    assert stage.wall_s == pytest.approx(1.0) and stage.speedup == pytest.approx(1.5)


def test_the_trace_reaches_timings_csv(tmp_path):
    record = _record("sum_chunk", 0, 0.0, 2.0, serial=3.0, load=0.5)
    jobs, _ = collect_jobs(_write(tmp_path, [record]))
    text = timings_csv(jobs)
    head = text.splitlines()[0].split(",")
    for name in ("started_at", "ended_at", "host", "pid", "attempt", "slurm_job_id"):
        assert name in head
    row = dict(zip(head, text.splitlines()[1].split(","), strict=True))
    assert row["started_at"] == utc_iso(T0) and row["exit_status"] == "0"
    assert row["cpu_share"] == "0.75" and row["load"] == "0.5" and row["speedup"] == "1.5"


def test_every_benchmark_row_counts(tmp_path):
    paths = _write(tmp_path, [_record("sum_chunk", 0, 0.0, 1.0)])
    bench = tmp_path / "results" / "benchmarks" / "sum_chunk" / "data" / "0.tsv"
    bench.parent.mkdir(parents=True)
    bench.write_text("s\tmax_rss\n3.0\t10\n1.0\t30\n2.0\tNA\n0.4\t0.2\n")
    (job,), _ = collect_jobs(paths)
    assert (job.job_s, job.job_s_min, job.job_s_max, job.job_runs) == (1.5, 0.4, 3.0, 4)
    assert job.max_rss_mb == 30
    bench.write_text("s\tmax_rss\n0.08\t0.23\n")  # one sample, before Python had started
    (job,), _ = collect_jobs(paths)
    assert job.max_rss_mb is None


def test_spread_and_what_it_lets_one_conclude():
    s = spread_of([1.0, 2.0, 3.0, 4.0, 5.0])
    assert (s.median, s.min, s.max, s.iqr) == (3.0, 1.0, 5.0, 2.0)
    assert spread_of([]) is None
    assert speedup_verdict(spread_of([1.5, 1.6, 1.55]), spread_limit=0.25) == "pays"
    assert speedup_verdict(spread_of([0.8, 0.85]), spread_limit=0.25) == "does not pay"
    assert "both sides of 1" in speedup_verdict(spread_of([0.9, 1.4]), spread_limit=0.25)
    wide = speedup_verdict(spread_of([1.1, 1.2, 3.0, 4.0]), spread_limit=0.25)
    assert wide.startswith("too spread to conclude: IQR")
    assert "one measurement" in speedup_verdict(spread_of([1.7]), spread_limit=0.25)


def test_the_cost_model_fit_recovers_known_terms():
    truth = CostModel(start_s=0.02, serial_s=0.1, work_s=2.0)
    points = [Timed(processes=1, wall_s=truth.predict(1, pooled=False), pooled=False)]
    points += [Timed(processes=p, wall_s=truth.predict(p)) for p in (1, 2, 4, 8)]
    fitted = fit_cost_model(points)
    assert (fitted.start_s, fitted.serial_s, fitted.work_s) == pytest.approx((0.02, 0.1, 2.0))
    two = [points[0], Timed(processes=2, wall_s=truth.predict(2))]
    known = fit_cost_model(two, start_s=0.02)
    assert (known.serial_s, known.work_s) == pytest.approx((0.1, 2.0))
    assert truth.break_even_s(2) == pytest.approx(0.04) and truth.break_even_s(1) is None
    with pytest.raises(ValueError, match="cannot separate"):
        fit_cost_model([Timed(processes=2, wall_s=1.0), Timed(processes=2, wall_s=1.1)])


def test_a_speedup_below_one_gets_its_break_even_and_its_load_in_words(tmp_path):
    records = [_record("sum_chunk", c, 2.0 * c, 0.06, serial=0.05, load=1.3) for c in (0, 1)]
    (row,) = stage_rows(collect_jobs(_write(tmp_path, records))[0])
    cost = StageCost(
        stage="sum",
        processes=2,
        model=CostModel(start_s=0.02, serial_s=0.01, work_s=0.04),
        bytes_per_chunk=1e6,
    )
    text = stage_sentence(row, cost, load_limit=0.25)
    assert "0.833 times as fast" in text and "does not pay" in text
    assert "more than 40 ms of shared work, about 1 MB per chunk" in text
    # the usable cores unknown, the load is said, not what it left the workers
    assert "Other processes kept 1.3 cores busy meanwhile." in text
    assert "could not all run at once" not in text
    plain = plain_sentence(row, cost, collect_jobs(_write(tmp_path, records))[0], load_limit=0.25)
    assert plain == (
        "sum: slower here, 0.833 times the speed of one process: each chunk is 50 ms of work "
        "and starting the pool costs 20 ms, while the machine was busy with 1.3 other cores; "
        "a pool pays for chunks of more work."
    )
    text = stage_sentence(row, cost, load_limit=0.25, cpus=2)
    assert "kept 1.3 cores busy of the 2 usable, leaving about 0.7 for the pool's 2 workers" in text
    crawl = stage_sentence(replace(row, stage="crawl"), cost, load_limit=0.25, cpus=2)
    assert "1.3 cores busy meanwhile; the crawl spends its time waiting on servers" in crawl
    assert "could not all run at once" not in crawl
    spread = replace(row, verdict="too spread to conclude: IQR is 40% of the median")
    plain = plain_sentence(spread, cost, collect_jobs(_write(tmp_path, records))[0], load_limit=9)
    assert plain == (  # the headline gives the Stages table's verdict, not "slower here"
        "sum: 2 processes summed the file at 0.833 times the speed of one, too spread to "
        "conclude: IQR is 40% of the median."
    )


def test_a_stage_with_no_shared_work_gets_the_same_reason_in_headline_and_stages(tmp_path):
    records = [_record("sum_chunk", c, 2.0 * c, 0.08, serial=0.073) for c in (0, 1)]
    jobs = collect_jobs(_write(tmp_path, records))[0]
    (row,) = stage_rows(jobs)
    cost = StageCost(
        stage="sum",
        processes=2,
        model=CostModel(start_s=0.026, serial_s=0.07, work_s=0.0),
        bytes_per_chunk=1e6,
    )
    said = "the shared work is no more than the pool's start, so the pool could not pay."
    assert stage_sentence(row, cost, load_limit=9).endswith(said)
    plain = plain_sentence(row, cost, jobs, load_limit=9)
    assert plain == (
        "sum: slower here, 0.912 times the speed of one process; the work its processes could "
        "share was no more than the pool's start, so the pool could not pay."
    )
    # some shared work, as under load: the sentence does not call 18.1 ms "next to none"
    some = replace(cost, model=replace(cost.model, work_s=0.0181))
    assert "18.1 ms of work the 2 processes share: " + said in stage_sentence(
        row, some, load_limit=9
    )
    assert "chunks of more work" not in plain


def test_the_baseline_marks_slower_and_faster_jobs_beyond_the_spread(tmp_path):
    now = [
        _record("sum_chunk", 0, 0.0, 2.0),
        _record("sum_chunk", 1, 3.0, 1.0),
        _record("merge_sum", None, 5.0, 0.1),
        _record("split_numbers", None, 6.0, 0.1),
    ]
    old = tmp_path / "old.csv"
    old.write_text(
        "rule,dataset,chunk,wall_s\n"
        "sum_chunk,data,0,1.0\nsum_chunk,data,1,1.02\nmerge_sum,data,,0.5\ngone,data,,1\n"
    )
    built = build(_write(tmp_path, now), baseline=old)
    marks = {(c.rule, c.chunk): c.mark for c in built.changes}
    assert marks[("sum_chunk", "0")] == "slower"
    assert marks[("sum_chunk", "1")] == "same within the spread"
    assert marks[("merge_sum", "")] == "faster"
    assert marks[("split_numbers", "")] == "new" and marks[("gone", "")] == "only in the baseline"
    spread = compare(collect_jobs(_write(tmp_path, now))[0], read_baseline(old)[0], factor=5.0)
    assert {c.mark for c in spread if c.rule == "sum_chunk"} == {"same within the spread"}


def test_a_run_against_its_own_timings_csv_is_the_same_at_the_least_factor(tmp_path):
    """timings.csv holds six digits: the run's own times, read back, are no change at factor 1."""
    jobs = collect_jobs(_write(tmp_path, [_record("merge_sum", None, 5.0, 0.15541234)]))[0]
    own = tmp_path / "own.csv"
    own.write_text(timings_csv(jobs))
    assert [c.mark for c in compare(jobs, read_baseline(own)[0], factor=1.0)] == [
        "same within the spread"
    ]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (b"a,b\n1,2\n", "lacks rule, dataset, chunk, wall_s"),
        (b"rule,dataset,chunk,wall_s\n\xff\xfe,,,1\n", "not a readable CSV"),
    ],
)
def test_a_malformed_baseline_is_one_sentence(tmp_path, text, says):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(text)
    with pytest.raises(PoolpipeError, match=says):
        read_baseline(bad)
    with pytest.raises(PoolpipeError, match="does not exist"):
        read_baseline(tmp_path / "absent.csv")


def test_the_report_command_writes_the_page_and_refuses_a_bad_baseline(tmp_path):
    _write(tmp_path, [_record("sum_chunk", 0, 0.0, 1.0, serial=1.5)])
    cmd = [sys.executable, "-m", "poolpipe.cli", "report", "--results", str(tmp_path / "results")]
    cmd += ["--out", str(tmp_path / "out")]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "report.html").stat().st_size > 1000
    (tmp_path / "bad.csv").write_text("x\n1\n")
    done = subprocess.run(
        [*cmd, "--baseline", str(tmp_path / "bad.csv")],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert done.stderr.startswith("poolpipe: error: baseline")


def test_the_overhead_bench_measures_a_start_and_a_dispatch_per_pool_size():
    points = measure_overhead([1, 2], repeats=2, tasks=10)
    assert [p.processes for p in points] == [1, 2]
    for p in points:
        assert 0 < p.start_min_s <= p.start_s <= p.start_max_s and p.dispatch_us >= 0


def test_the_page_draws_the_timeline_and_the_break_even_from_clock_times(tmp_path):
    from poolpipe.bench import OverheadPoint
    from poolpipe.core import tsv
    from poolpipe.report.overview import page_sections

    records = [_record("sum_chunk", c, 1.0 * c, 0.5, serial=0.8, load=0.1) for c in range(3)]
    overhead = [
        OverheadPoint(
            processes=2,
            start_s=0.01,
            start_min_s=0.01,
            start_max_s=0.02,
            dispatch_us=100.0,
            repeats=3,
            load=0.0,
        )
    ]
    tsv.write_records(tmp_path / "overhead.tsv", overhead)
    built = build(_write(tmp_path, records), overhead_tsv=tmp_path / "overhead.tsv")
    sections = {s.title: s for s in page_sections(built)}
    assert sections["Timeline"].png[:4] == b"\x89PNG"
    assert sections["What a pool costs"].png[:4] == b"\x89PNG"
    assert "sum: 2 processes summed the file 1.6 times as fast as one." in sections["Headline"].text
    assert "A pool of 2 pays only for chunks with more than 20 ms" in sections["Stages"].text
    assert "and each further task 100 µs to dispatch." in sections["What a pool costs"].text
    assert "3 timed jobs (sum)" in sections["This run"].text
    one = [_record("merge_sum", None, 0.0, 0.5)]
    tsv.write_records(tmp_path / "overhead.tsv", [replace(overhead[0], dispatch_us=0.0)])
    built = build(_write(tmp_path / "one", one), overhead_tsv=tmp_path / "overhead.tsv")
    sections = {s.title: s for s in page_sections(built)}
    assert "1 timed job (sum)" in sections["This run"].text
    text = sections["What a pool costs"].text  # a clipped 0 is no measurement
    assert "each further task too little to measure against the start's spread." in text


def test_a_timeline_of_many_chunks_gives_each_rule_one_row():
    from poolpipe.report import plots
    from poolpipe.report.stages import Bar

    bars = [
        Bar(stage="sum", label=f"sum_chunk data [{i}]", start_s=i * 0.1, end_s=i * 0.1 + 0.2)
        for i in range(200)
    ]
    few = plots.timeline(bars[:10])
    many = plots.timeline(bars)
    height = int.from_bytes(many[20:24], "big")
    assert height < int.from_bytes(few[20:24], "big") * 2


def test_cpu_scaling_says_when_its_repeats_disagree():
    from poolpipe.bench import ScalingPoint
    from poolpipe.report.benches import scaling_table

    one = ScalingPoint(processes=1, wall_s=1.0, runs=(1.0, 1.0, 1.0), speedup=1, efficiency=1)
    steady = ScalingPoint(processes=2, wall_s=0.5, runs=(0.5, 0.52, 0.51), speedup=2, efficiency=1)
    head, rows = scaling_table([one, steady])
    assert rows[0][head.index("verdict")] == "" and rows[1][head.index("verdict")] == "pays"
    noisy = ScalingPoint(processes=2, wall_s=0.9, runs=(0.6, 1.3, 0.9), speedup=1.1, efficiency=0.5)
    _, rows = scaling_table([one, noisy])
    assert rows[1][-1].startswith("too spread to conclude")
    assert rows[1][1:6] == ["900 ms", "600 ms", "1.3 s", "350 ms", "3"]


def test_a_stage_without_a_one_process_time_says_why_where_its_record_does(tmp_path):
    from dataclasses import replace

    from poolpipe.report.overview import page_sections

    note = "no one-process comparison on a user's dataset: every job runs once."
    records = [replace(_record("sum_chunk", c, 1.0 * c, 0.5), serial_note=note) for c in (0, 1)]
    sections = {s.title: s for s in page_sections(build(_write(tmp_path, records)))}
    assert f"sum: {note}" in sections["Headline"].text
    assert f"sum: {note}" in sections["Stages"].text
    bare = "not measured: set compare_serial to measure"  # as a record says it: no full stop
    records = [replace(r, serial_note=bare) for r in records]
    sections = {s.title: s for s in page_sections(build(_write(tmp_path / "c", records)))}
    assert f"sum: {bare}.\n" in sections["Headline"].text + "\n"
    assert "Each figure is the median" not in sections["Headline"].text  # no figure to explain
    timed = [_record("sum_chunk", c, 1.0 * c, 0.5, serial=0.8) for c in (0, 1)]
    sections = {s.title: s for s in page_sections(build(_write(tmp_path / "t", timed)))}
    assert "Each figure is the median" in sections["Headline"].text
    plain = build(_write(tmp_path / "b", [_record("sum_chunk", 0, 0.0, 0.5)]))
    assert (
        "timing.compare_serial is off"
        in {s.title: s for s in page_sections(plain)}["Headline"].text
    )


def test_the_headline_names_the_pools_size_not_the_machines(tmp_path):
    # a run with --cores 1 ran pools of 1 process: "the time the pool took on 2 usable CPUs"
    from poolpipe.report.overview import page_sections

    timed = [
        replace(_record("sum_chunk", c, 1.0 * c, 0.5, serial=0.4), processes=1) for c in (0, 1)
    ]
    report = build(_write(tmp_path, timed))
    text = {s.title: s for s in page_sections(report)}["Headline"].text
    assert "over the time the pool of 1 process took" in text
    assert "usable CPUs" not in text


def test_the_crawl_headline_says_it_waits_on_servers(tmp_path):
    records = [_record("crawl_chunk", c, 2.0 * c, 1.0, serial=1.5, stage="crawl") for c in (0, 1)]
    jobs = collect_jobs(_write(tmp_path, records))[0]
    (row,) = stage_rows(jobs)
    text = plain_sentence(row, None, jobs, load_limit=0.25)
    assert text.startswith("crawl: 2 processes crawled the URLs 1.5 times as fast as one;")
    assert text.endswith("so more connections, not more CPUs, make it faster.")
    assert "kept 75 % of their CPUs busy" in text


def test_the_workflows_early_baseline_check_asks_for_the_columns_the_report_needs():
    text = (Path(__file__).resolve().parents[2] / "rules/common.smk").read_text()
    found = re.search(r"^BASELINE_COLUMNS = (\(.*?\))$", text, re.M)
    assert found and ast.literal_eval(found[1]) == NEEDED


def test_a_datasets_result_made_by_an_earlier_run_says_which_run_made_it(tmp_path):
    import json

    from poolpipe.report.results import result_sections
    from poolpipe.report.runs import choose_run, origin

    old = replace(_record("merge_sum", None, 0.0, 0.1), run_id="20261201T000000Z-aaaaaa")
    new = replace(_record("sum_chunk", 0, 5.0, 0.1), run_id="20261202T000000Z-bbbbbb")
    choice = choose_run(collect_jobs(_write(tmp_path, [old, new]))[0])
    assert choice.run_id == new.run_id
    assert origin("merge_sum", choice, "data").startswith(
        "From another run (20261201T000000Z-aaaaaa, started"
    )
    assert origin("sum_chunk", choice, "data") == "" and origin("merge_sum", choice, "x") == ""
    total = tmp_path / "results" / "sum" / "data" / "total.json"
    total.parent.mkdir(parents=True)
    total.write_text(json.dumps({"total": 7, "numbers": 1, "lines": 1, "bytes": 2}))
    (made,) = result_sections(sum_totals=[total], origin=lambda r, d: origin(r, choice, d))
    assert made.text.startswith("From another run (20261201T000000Z-aaaaaa") and "add up to 7" in (
        made.text
    )
    (plain,) = result_sections(sum_totals=[total])
    assert plain.text.startswith("1 number in 2 B add up to 7")
