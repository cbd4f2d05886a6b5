"""Every label on the page matches its numbers: undefined statistics, counts, units, reasons."""

from __future__ import annotations

from pathlib import Path

import pytest

from poolpipe.report import fit_section, predict_section
from poolpipe.train import train_file


def test_an_undefined_statistic_of_the_exact_fit_says_so_and_why(tmp_path: Path) -> None:
    flat = tmp_path / "flat.csv"
    flat.write_text("x,y\n1,4\n2,4\n3,4\n4,4\n5,4\n")
    text = fit_section(train_file(str(flat), "y", processes=1)).text
    assert "R² undefined (adjusted undefined), residual RMSE 0, F undefined on 1 and 3" in text
    assert "(p undefined)" in text and "  " not in text
    assert "R² and adjusted R² undefined: the target is constant: it varies by nothing." in text
    assert text.endswith(
        " A standard error is 0 (a perfect fit): its t is infinite (p 0), or 0 / 0 for a "
        "coefficient of 0."
    )
    one = tmp_path / "one.csv"
    one.write_text("x,y\n1,4\n")
    model = train_file(str(one), "y", processes=1)
    text = fit_section(model).text
    assert "F undefined on 0 and 0 degrees of freedom (p undefined)" in text
    assert "adjusted R² and F undefined: no residual degrees of freedom are left." in text
    why = "no residual degrees of freedom are left: no standard error, t, p or interval"
    assert model["exact"]["undefined"]["std_err"] == why
    assert text.endswith(f" N{why[1:]}.")


def test_robust_errors_of_a_perfect_fit_say_why_their_t_is_empty(tmp_path: Path) -> None:
    from poolpipe.train.model import Options

    line = tmp_path / "line.csv"  # rounding leaves the ordinary errors above 0, not these
    line.write_text("x,y\n1,3\n2,5\n3,7\n4,9\n5,11\n")
    model = train_file(str(line), "y", processes=1, options=Options(robust="hc0"))
    robust = model["exact"]["robust"]
    assert robust["std_err"] == {"coef": [0.0], "intercept": 0.0}
    why = "a standard error is 0 (a perfect fit): its t is infinite (p 0), or 0 / 0 for a "
    assert robust["undefined"] == {"t": why + "coefficient of 0"}
    text = fit_section(model).text
    assert f" Standard errors: HC0 (robust). A{why[1:]}coefficient of 0." in text
    assert text.startswith("Fitted on 5 rows in two passes: ")  # the second: robust errors


def test_the_fit_says_how_often_it_read_the_rows(tmp_path: Path) -> None:
    from poolpipe.train.model import Options
    from tests.train.test_nist import write_csv

    path, names = write_csv("Wampler5", tmp_path)  # badly conditioned: a refinement step
    model = train_file(str(path), "y", features=names, options=Options(robust="hc0"))
    assert model["exact"]["refined"]
    assert fit_section(model).text.startswith("Fitted on 21 rows in three passes: ")
    model = train_file(str(path), "y", features=names)
    text = fit_section(model).text
    assert text.startswith("Fitted on 21 rows in two passes: ")
    # the warning model.json and summary.txt give is on the page too, said once
    (warning,) = model["exact"]["warnings"]
    assert warning.startswith("the condition number is large")
    assert text.count(f" Warning: {warning}.") == 1


def test_the_fit_says_its_aliased_columns_once_and_its_other_warnings(tmp_path: Path) -> None:
    lines = ["a,b,c,y"] + [f"{i},{2 * i},{i % 3},{3 * i + 1}" for i in range(12)]
    (path := tmp_path / "aliased.csv").write_text("\n".join(lines) + "\n")
    model = train_file(str(path), "y")
    assert model["exact"]["aliased"] == ["b"]
    text = fit_section(model).text
    assert "aliased columns: b." in text and "Warning: 1 column(s) aliased" not in text


def test_a_prediction_scored_on_one_row_says_why_it_has_no_r2() -> None:
    why = {"r2": "one row has a target: R² needs two"}
    summary = {"rows": 3, "scored_rows": 1, "rmse": 0.5, "r2": None, "undefined": why}
    section = predict_section(summary)
    assert section.table[1][0][4:] == ["0.5", "undefined"]
    assert section.text.endswith("R² undefined: one row has a target: R² needs two.")


def test_the_latency_section_takes_a_url_with_a_quote_as_one_row(tmp_path: Path) -> None:
    from poolpipe.report.sections import crawl_section

    pages = tmp_path / "pages.tsv"
    pages.write_text(
        "line\turl\tstatus\telapsed_ms\terror\n"
        '1\t"http://a/page/1\t200\t9\t\n2\thttp://a/2\t200\t8\t\n'
        "3\thttp://a/3\t200\t7\t\n4\thttp://a/4\t\t5\tdns\n"
    )
    text = crawl_section(pages, {}).text
    assert "4 URLs were attempted" in text and "3 of them got a success status" in text


def test_a_damaged_pages_tsv_is_said_not_read_in_part(tmp_path: Path) -> None:
    from poolpipe.core import tsv

    lines = ["line\turl\tstatus\n", "1\thttp://a/1\t200\n", "2\thttp://a/2\n"]
    with pytest.raises(ValueError, match=r"^line 3 has 2 fields, the header 3$"):
        list(tsv.records(lines))


def _jobs(tmp_path: Path, records: list) -> list:
    from poolpipe.report.jobs import collect_jobs

    from .test_analysis import _write

    return collect_jobs(_write(tmp_path, records))[0]


def test_the_stage_sentence_counts_the_chunks_its_median_is_over(tmp_path: Path) -> None:
    from dataclasses import replace

    from poolpipe.report.explain import stage_sentence
    from poolpipe.report.stages import stage_rows, stages_table

    from .test_analysis import _record

    records = [_record("sum_chunk", c, 2.0 * c, 1.0, serial=1.5 + c) for c in (0, 1)]
    records += [_record("sum_chunk", c, 2.0 * c, 1.0) for c in (2, 3)]  # not rerun
    (row,) = stage_rows(_jobs(tmp_path / "a", records))
    text = stage_sentence(row, None, load_limit=9)
    assert "(median of 2 chunks, 1.5 to 2.5;" in text and "4 chunks" not in text
    empty = replace(_record("sum_chunk", 4, 9.0, 0.015, serial=0.001), items=0, bytes=0)
    (row,) = stage_rows(_jobs(tmp_path / "b", [*records, empty]))
    assert row.speedup == 2.0 and row.measured == 2
    text = stage_sentence(row, None, load_limit=9)
    assert "(median of 2 chunks, 1.5 to 2.5, leaving out 1 empty chunk;" in text
    assert stages_table([row])[1][0][5] == "2x (1.5 to 2.5)"


def test_the_crawl_headline_gives_the_verdict_and_the_share_over_all_chunks(tmp_path: Path) -> None:
    from dataclasses import replace

    from poolpipe.report.explain import plain_sentence
    from poolpipe.report.stages import stage_rows

    from .test_analysis import _record

    slow = [_record("crawl_chunk", 0, 0.0, 10.0, serial=8.0, stage="crawl", load=2.0)]
    slow += [_record("crawl_chunk", 1, 20.0, 1.0, serial=1.2, stage="crawl", load=2.0)]
    slow = [replace(r, cpu_s=0.1 * r.wall_s) for r in slow]
    slow.append(replace(_record("crawl_chunk", 2, 30.0, 0.015, stage="crawl"), cpu_s=0.026))
    jobs = _jobs(tmp_path, slow)
    (row,) = stage_rows(jobs)
    assert row.verdict.startswith("too spread")
    text = plain_sentence(row, None, jobs, load_limit=0.25)
    assert f"at 1 times the speed of one, {row.verdict};" in text and "slower here" not in text
    # (1 + 0.1 + 0.026) CPU seconds over 2 x (10 + 1 + 0.015) worker seconds: 5.11 %
    assert "(over its 3 chunks, its workers kept 5.11 % of their CPUs busy)" in text


def test_the_fit_says_its_weights_its_weightless_rows_its_ridge_and_a_skipped_full_fit(
    tmp_path: Path,
) -> None:
    from poolpipe.report import train_section
    from poolpipe.report.results import model_section
    from poolpipe.train.model import Options

    data = tmp_path / "w.csv"
    data.write_text("x,w,y\n1,1,2.1\n2,0,4\n3,2,6.2\n4,-1,8\n5,1,9.7\n6,1,12.4\n")
    model = train_file(
        str(data),
        "y",
        features=["x"],
        weights="w",
        processes=1,
        options=Options(ridge=0.5),
        compare_full_fit=True,
        full_fit_max_mb=0,
    )
    text = fit_section(model).text
    assert "Weighted by column w; 2 rows with a weight of 0 or below left out." in text
    assert "a ridge fit (train.ridge = 0.5: R² 0.995, residual RMSE 0.257) is in model.json" in text
    said = model_section(model, dataset="w").text
    assert "over 4 rows in 1 chunk: " in said
    assert said.endswith("0 rows skipped as bad, 2 with a weight of 0 or below left out.")
    skipped = train_section(model).text
    assert "none was made" not in skipped
    assert "was skipped (needs about 0.00055 MiB, more than full_fit_max_mb = 0)." in skipped


def test_a_ridge_fit_of_a_constant_target_says_its_r2_is_undefined_and_why(
    tmp_path: Path,
) -> None:
    from poolpipe.train.model import Options

    data = tmp_path / "c.csv"
    data.write_text("x,y\n1,3\n2,3\n4,3\n")
    model = train_file(str(data), "y", processes=1, options=Options(ridge=1.0))
    ridge = model["ridge"]
    assert ridge["r2"] is None
    assert ridge["undefined"] == {"r2": "the target is constant: it varies by nothing"}
    text = fit_section(model).text
    assert (
        "a ridge fit (train.ridge = 1: R² undefined (the target is constant: it varies by "
        "nothing), residual RMSE 0) is in model.json" in text
    )


def test_a_tasks_failure_reason_is_whole_and_the_double_count_is_said(tmp_path: Path) -> None:
    from poolpipe.report.results import tasks_section

    results = tmp_path / "results.tsv"
    rows = ["copy\ttrue\t", "copy\tfalse\t'dir: notes' does not exist", "move\tfalse\tboom"]
    results.write_text("op\tok\terror\n" + "".join(r + "\n" for r in rows))
    section = tasks_section(results, dataset="t")
    table = dict(section.table[1])
    assert table["failed because: 'dir: notes' does not exist"] == "1"
    assert (
        "The table counts the tasks by operation, then the failed ones again by reason, so "
        "its rows add up to 5." in section.text
    )


def test_one_core_process_and_repeat_are_singular(tmp_path: Path) -> None:
    from dataclasses import replace

    from poolpipe.report.cells import cores
    from poolpipe.report.explain import plain_sentence
    from poolpipe.report.jobs import jobs_table
    from poolpipe.report.stages import stage_rows, stages_table

    from .test_analysis import _record

    assert (cores(1.0), cores(1.3), cores(None)) == ("1 core", "1.3 cores", "")
    records = [replace(_record("sum_chunk", 0, 0.0, 1.0, serial=2.0, load=1.0), processes=1)]
    jobs = _jobs(tmp_path, records)
    (row,) = stage_rows(jobs)
    assert jobs_table(jobs)[1][0][5] == stages_table([row])[1][0][6] == "1 core"
    assert plain_sentence(row, None, jobs, load_limit=9).startswith("sum: 1 process summed")


def test_one_measured_pool_size_or_repeat_is_said_as_one() -> None:
    from poolpipe.bench import ScalingPoint
    from poolpipe.report.overview import _over, _repeats

    one = ScalingPoint(processes=1, wall_s=1.0, runs=(1.0,), speedup=1.0, efficiency=1.0)
    four = ScalingPoint(processes=4, wall_s=0.3, runs=(0.3,), speedup=3.3, efficiency=0.8)
    assert (_over([one]), _over([one, four])) == ("1 process", "1 to 4 processes")
    assert (_repeats(1), _repeats(5)) == ("one measurement", "median of 5")


def test_the_headline_quotes_the_start_of_the_pool_size_the_stage_used(tmp_path: Path) -> None:
    from dataclasses import replace

    from poolpipe.bench import OverheadPoint
    from poolpipe.report.explain import plain_sentence
    from poolpipe.report.stages import stage_rows

    from .test_analysis import _record

    def point(processes: int, start_s: float) -> OverheadPoint:
        return OverheadPoint(
            processes=processes,
            start_s=start_s,
            start_min_s=start_s,
            start_max_s=start_s,
            dispatch_us=1.0,
            repeats=3,
            load=None,
        )

    records = [replace(_record("sum_chunk", 0, 0.0, 0.06, serial=0.05), processes=1)]
    jobs = _jobs(tmp_path, records)
    (row,) = stage_rows(jobs)
    row = replace(row, verdict="does not pay")
    text = plain_sentence(row, None, jobs, load_limit=9, overhead=[point(1, 0.0283), point(16, 2)])
    assert "starting a pool of 1 process costs 28.3 ms" in text and "2 s" not in text


def test_free_cores_enough_for_the_workers_are_not_called_too_few(tmp_path: Path) -> None:
    from dataclasses import replace

    from poolpipe.bench import CostModel
    from poolpipe.report.explain import StageCost, stage_sentence
    from poolpipe.report.stages import stage_rows

    from .test_analysis import _record

    records = [_record("sum_chunk", c, 2.0 * c, 1.0, serial=1.5, load=0.5) for c in (0, 1)]
    (row,) = stage_rows(_jobs(tmp_path, records))
    model = CostModel(start_s=0.02, serial_s=0.01, work_s=2.0)
    cost = StageCost(stage="sum", processes=2, model=model, bytes_per_chunk=1e6)
    roomy = stage_sentence(row, cost, load_limit=0.25, cpus=16)
    assert "leaving about 15.5 for the pool's 2 workers, enough for each worker" in roomy
    assert "could not all run at once" not in roomy
    tight = stage_sentence(replace(row, load=15.5), cost, load_limit=0.25, cpus=16)
    assert "leaving about 0.5 for the pool's 2 workers, so the workers could not all run" in tight


def test_a_value_that_rounds_up_to_the_next_unit_is_shown_in_it() -> None:
    from poolpipe.report.cells import count, seconds, size

    assert (seconds(0.99996), seconds(3599.9), seconds(59.9)) == ("1 s", "1 h", "59.9 s")
    assert (seconds(0.0009996), seconds(90)) == ("1 ms", "1.5 min")
    assert (size(999_999), size(999)) == ("1 MB", "999 B")
    assert count(999_999_999, "rows") == "1 G rows"


def test_a_million_bad_lines_are_grouped_in_the_sentence_as_in_the_table() -> None:
    from poolpipe.report.results import sum_section

    total = {"total": 7, "numbers": 2, "lines": 1_000_003, "bytes": 9, "bad_lines": 1_000_000}
    section = sum_section(total | {"blank_lines": 1_000}, dataset="d")
    said = "1\u2009000\u2009000 bad lines (counted, not summed) and 1\u2009000 blank."
    assert said in section.text
    assert section.table[1][0][3:5] == ["1\u2009000\u2009000", "1\u2009000"]


def test_the_averaging_section_counts_the_chunks_averaged_and_draws_no_zeros(
    tmp_path: Path,
) -> None:
    from poolpipe.report import train_section

    flat = tmp_path / "flat.csv"
    flat.write_text("x,y\n1,4\n2,4\n3,4\n")
    model = train_file(str(flat), "y", processes=1, chunks=8, compare_full_fit=True)
    assert (model["chunks"], model["chunks_averaged"]) == (8, 3)
    section = train_section(model)
    assert "over 8 chunks, 3 of them with a fit to average." in section.text
    assert "all differences are 0" in section.text and section.png is None
    assert "rounding error" not in section.caption


def test_a_supervised_program_stopped_by_sigterm_says_so(tmp_path: Path) -> None:
    from poolpipe.report.results import supervise_section

    ticks = tmp_path / "ticks.tsv"
    ticks.write_text(
        "process\tticks\trestarts\texit_code\tstatus\nweb\t12\t0\t-15\tstopped\nw1\t5\t1\t0\tdone\n"
    )
    head, rows = supervise_section(ticks).table
    assert head[:2] == ["loop or program", "ticks or heartbeats"]
    assert [r[3] for r in rows] == ["signal SIGTERM", "exit code 0"]


def test_the_timeline_speaks_of_hatched_bars_and_stages_only_where_there_are_some() -> None:
    from types import SimpleNamespace

    from poolpipe.report.overview import stage_sections
    from poolpipe.report.stages import Bar

    bars = [Bar(stage="tasks", label="run_tasks t", start_s=0.0, end_s=1.0)]
    (section,) = stage_sections(SimpleNamespace(bars=bars, stages=[]))  # type: ignore[arg-type]
    assert "Hatched" not in section.text and section.caption == ""


def test_an_unmeasurable_dispatch_and_a_clipped_serial_fraction_say_so() -> None:
    from poolpipe.bench import OverheadPoint
    from poolpipe.report.benches import overhead_table
    from poolpipe.report.overview import _amdahl

    one = OverheadPoint(
        processes=1,
        start_s=0.03,
        start_min_s=0.02,
        start_max_s=0.04,
        dispatch_us=0.0,
        repeats=3,
        load=None,
    )
    assert overhead_table([one])[1][0][4] == "too little to measure"
    assert "not meaningful" in _amdahl(1.0) and ": 1." not in _amdahl(1.0)
    assert _amdahl(0.25) == "Amdahl's-law serial fraction: 0.25."


def test_chunk_jobs_of_runs_split_differently_are_not_compared(tmp_path: Path) -> None:
    from poolpipe.report.compare import changes_summary, compare

    from .test_analysis import _record

    jobs = _jobs(tmp_path, [_record("sum_chunk", c, 2.0 * c, 1.0) for c in (0, 1)])
    baseline = {("sum_chunk", "data", str(c)): 0.01 for c in range(4)}
    changes = compare(jobs, baseline, factor=1.5)
    marks = sorted((c.chunk, c.mark) for c in changes)
    assert marks == [
        ("0", "new"),
        ("0", "only in the baseline"),
        ("1", "new"),
        ("1", "only in the baseline"),
        ("2", "only in the baseline"),
        ("3", "only in the baseline"),
    ]
    assert changes_summary(changes).startswith(
        "Against the baseline: 0 jobs slower, 0 faster, 0 the same within the spread, 2 new, "
        "4 only in the baseline ("
    )
