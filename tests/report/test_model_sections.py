"""The report's sections for a fitted model and for its predictions on new rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from poolpipe.report import fit_section, predict_section, train_section
from poolpipe.report.cells import shown
from poolpipe.report.results import model_section
from poolpipe.train import train_file
from poolpipe.train.model import Options


def _csv(path: Path, rows: list[tuple[float, ...]]) -> str:
    path.write_text("x1,x2,y\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return str(path)


def test_the_fit_section_has_a_row_per_term_with_its_error_and_interval(tmp_path: Path) -> None:
    rows = [(x, (x * 7) % 5, 1.5 * x - 2 * ((x * 7) % 5) + 3 + (-1) ** x * 0.1) for x in range(40)]
    model = train_file(_csv(tmp_path / "t.csv", rows), "y", processes=1)
    section = fit_section(model, dataset="t")
    head, table = section.table
    assert head[:5] == ["term", "coef", "std err", "t", "p"]
    assert head[5:] == ["95% low", "95% high"]
    assert [row[0] for row in table] == ["x1", "x2", "intercept"]
    coef = [float(row[1]) for row in table]
    assert abs(coef[0] - 1.5) < 0.01 and abs(coef[1] + 2) < 0.01 and abs(coef[2] - 3) < 0.05
    for row in table:
        assert float(row[5]) < float(row[1]) < float(row[6])
    assert "Fitted on 40 rows" in section.text and "aliased columns: none" in section.text


def test_the_fit_sections_t_and_p_read_as_summary_txt_writes_them(tmp_path: Path) -> None:
    """One fit, two outputs: a t of 1916.2 is not 1920 on the page and 1916 in summary.txt, and
    a p of 1e-200 is not '< 1e-16' on one and '1e-200' on the other."""
    from poolpipe.train import summary_text

    rows = [(x, (x * 7) % 5, 1.5 * x - 2 * ((x * 7) % 5) + 3 + (-1) ** x * 0.01) for x in range(40)]
    model = train_file(_csv(tmp_path / "t.csv", rows), "y", processes=1)
    names = ("x1", "x2", "intercept")
    page = {row[0]: row[3:5] for row in fit_section(model).table[1]}
    lines = [line.split() for line in summary_text(model).splitlines()]
    text = {cells[0]: cells[3:5] for cells in lines if cells and cells[0] in names}
    assert all(abs(float(page[n][0].replace("\u2009", ""))) > 700 for n in names)
    assert all(float(page[n][1]) < 1e-16 for n in names)  # below the old floor, shown
    for name in names:  # the same four figures, though summary.txt writes 10520 as 1.052e+04
        assert float(page[name][0].replace("\u2009", "")) == float(text[name][0]), (page, text)
        assert page[name][1] == text[name][1], (page, text)


def test_the_fit_section_shows_the_robust_errors_asked_for(tmp_path: Path) -> None:
    rows = [(x, (x * 7) % 5, 1.5 * x + (x % 3) * x * 0.05) for x in range(40)]
    path = _csv(tmp_path / "t.csv", rows)
    model = train_file(path, "y", processes=1, options=Options(robust="hc1", alpha=0.0004))
    section = fit_section(model)
    head, table = section.table
    assert head[5:] == ["99.96% low", "99.96% high"]
    robust = model["exact"]["robust"]
    assert table[0][2] == shown(robust["std_err"]["coef"][0])
    assert table[0][2] != shown(model["exact"]["std_err"]["coef"][0])
    assert section.text.endswith("Standard errors: HC1 (robust).")
    assert "robust" not in fit_section(train_file(path, "y", processes=1)).text


def test_a_fit_through_the_origin_names_its_r2_uncentered_and_has_no_intercept_row(
    tmp_path: Path,
) -> None:
    rows = [(x, (x * 7) % 5, 1.5 * x - 2 * ((x * 7) % 5) + 3 + (-1) ** x * 0.1) for x in range(40)]
    path = _csv(tmp_path / "t.csv", rows)
    model = train_file(path, "y", processes=1, options=Options(intercept=False))
    section = fit_section(model)
    assert [row[0] for row in section.table[1]] == ["x1", "x2"]
    assert f"in one pass: R² (uncentered) {shown(model['exact']['r2'])} (" in section.text
    assert ": R² (uncentered) " in model_section(model, dataset="t").text
    centred = train_file(path, "y", processes=1)
    assert f"in one pass: R² {shown(centred['exact']['r2'])} (" in fit_section(centred).text
    assert "uncentered" not in model_section(centred, dataset="t").text


def test_row_counts_in_the_train_sections_are_grouped_like_the_others(tmp_path: Path) -> None:
    rows = [(x, (x * 3) % 7, 2.0 * x + (x * 3) % 7 + (-1) ** x * 0.1) for x in range(20)]
    path = _csv(tmp_path / "t.csv", rows)
    model = train_file(path, "y", processes=1, compare_full_fit=True)
    model["exact"]["n"] = model["rows"] = 3_987_654
    model["exact"]["df_resid"] = 3_987_651
    model["chunks"] = 1
    text = fit_section(model).text
    assert "Fitted on 3.99 M rows in one pass" in text
    assert "on 2 and 3\u2009987\u2009651 degrees of freedom" in text  # exact, grouped
    assert "fit on all 3.99 M rows, over 1 chunk." in train_section(model).text


def test_an_aliased_column_is_named_and_its_cells_are_empty(tmp_path: Path) -> None:
    rows = [(x, 2 * x, x + 1 + (-1) ** x * 0.1) for x in range(30)]
    model = train_file(_csv(tmp_path / "a.csv", rows), "y", processes=1)
    section = fit_section(model)
    assert "aliased columns: x2" in section.text
    assert len(section.table[1]) == 3


def test_the_predict_section_says_whether_its_error_is_out_of_sample() -> None:
    summary = {"model": "m.json", "method": "exact", "input": "new.csv", "rows": 10}
    scored = predict_section({**summary, "scored_rows": 10, "rmse": 0.1234, "r2": 0.98})
    assert scored.table[1] == [["m.json", "exact", "10", "0", "0.123", "0.98"]]
    assert "10 rows carried the target" in scored.text and "out of sample" in scored.text
    one = predict_section({**summary, "scored_rows": 1, "rmse": 0.5, "r2": None})
    assert "1 row carried the target" in one.text
    unscored = predict_section({**summary, "scored_rows": 0, "rmse": None, "r2": None})
    assert unscored.table[1][0][4:] == ["", ""]
    assert "no row carried the target" in unscored.text
    big = predict_section({**summary, "rows": 200_000, "bad_rows": {"count": 12_345}})
    assert big.table[1][0][2:4] == ["200\u2009000", "12\u2009345"]  # grouped like the others


def test_the_crawl_outcomes_say_when_a_url_counts_under_a_status_and_an_error():
    from poolpipe.report.results import crawl_outcomes

    summary = {
        "rows": 5,
        "ok": 3,
        "errors": 2,
        "by_status": {"200": 4},
        "by_error": {"too_large": 1, "dns": 1},
    }
    section = crawl_outcomes(summary, dataset="urls")
    counted = sum(int(n) for _, n in section.table[1])
    assert counted == 6
    assert "1 URL with an answer that ended in an error counts under both" in section.text
    alone = crawl_outcomes({**summary, "by_status": {"200": 3}}, dataset="urls")
    assert "under both" not in alone.text
    again = {"rows": 6, "ok": 1, "errors": 3, "by_status": {"200": 1, "304": 2}}
    text = crawl_outcomes(again | {"by_error": {"duplicate": 3}}, dataset="urls").text
    assert (
        "Of 6 URLs, 1 URL was fetched with a success status (2xx), 2 unchanged since the "
        "previous crawl (304) and 3 URLs ended in an error row (3 of them repeats of an "
        "earlier line)" in text
    )
    other = {"rows": 8, "ok": 5, "errors": 2, "by_status": {"200": 5, "404": 1}}
    text = crawl_outcomes(other | {"by_error": {"dns": 2}}, dataset="urls").text
    assert "5 URLs were fetched with a success status (2xx), 1 answered with another status " in (
        text
    )


def test_the_crawl_outcomes_fold_the_smallest_counts_not_the_last_listed():
    from poolpipe.report.results import TOP, crawl_outcomes

    by_status = {str(300 + i): 50 for i in range(TOP - 2)} | {"200": 2}
    summary = {"rows": 50 * (TOP - 2) + 11, "ok": 2, "errors": 9, "by_status": by_status}
    table = crawl_outcomes(summary | {"by_error": {"dns": 1, "scheme": 8}}, dataset="u").table[1]
    assert len(table) == TOP and table[-2] == ["error: scheme", "8"]
    assert table[-1] == ["2 others", "3"]  # status 200 (2) and dns (1): the least, not the last


def test_the_crawl_sentences_count_one_url_in_the_singular(tmp_path):
    from poolpipe.report.results import crawl_outcomes
    from poolpipe.report.sections import crawl_section

    summary = {"rows": 2, "ok": 1, "errors": 1, "retries": 1, "by_status": {"200": 1}}
    outcomes = crawl_outcomes(summary | {"by_error": {"dns": 1}}, dataset="urls")
    assert "Of 2 URLs, 1 URL was fetched with a success status (2xx) and 1 URL ended" in (
        outcomes.text
    )
    assert "1 retry;" in outcomes.text
    assert "0 retries;" in crawl_outcomes(summary | {"retries": 0}, dataset="urls").text
    pages = tmp_path / "pages.tsv"
    pages.write_text("line\turl\tfinal_url\tstatus\tbytes\telapsed_ms\n1\thttp://a/\t\t200\t5\t9\n")
    section = crawl_section(pages, summary)
    assert (
        "1 URL was attempted (URLs/s counts them); 1 of them got a success status (2xx)."
        in section.text
    )
    pages.write_text(
        "line\turl\tstatus\telapsed_ms\terror\n1\thttp://a/\t200\t9\t\n"
        "2\thttp://a/x\t404\t7\t\n3\thttp://b/\t\t5\tdns\n4\thttp://a/\t\t\tduplicate\n"
        "5\thttp://a/y\t304\t4\t\n"
    )
    assert (
        "4 URLs were attempted (URLs/s counts them); 1 of them got a success status (2xx), "
        "1 was unchanged (304), 1 ended in an error row and 1 got another status."
        in crawl_section(pages, summary).text
    )
    pages.write_text(
        "line\turl\tstatus\telapsed_ms\terror\n1\thttp://a/\t200\t9\t\n"
        "2\thttp://a/private\t\t0\trobots\n"
    )
    assert (
        "2 URLs were attempted (URLs/s counts them); 1 of them got a success status (2xx) and "
        "1 ended in an error row (1 refused by robots.txt)." in crawl_section(pages, summary).text
    )
    alone = crawl_outcomes({"rows": 1, "ok": 1, "errors": 0, "by_status": {"200": 1}}, dataset="u")
    assert alone.text.startswith("Of 1 URL, 1 URL was fetched")


@pytest.mark.parametrize(
    ("total", "expected"),
    [
        (12_345_678_901_234_567_890, "12345678901234567890"),  # 20 digits: every one
        (123_456_789_012_345_678_901_162_072_006, "about 1.235e29"),  # rounded, not cut
        (-123_456_789_012_345_678_901_152_072_006, "about -1.235e29"),
        (99_995 * 10**20, "about 1.000e25"),  # the rounding carries into the exponent
        (99_994_999 * 10**20, "about 9.999e27"),
        (10**100 + 22, "about 1.000e100"),
    ],
)
def test_a_long_total_is_shown_rounded_and_says_where_its_digits_are(total, expected):
    from poolpipe.report.results import sum_section

    one = {"total": total, "numbers": 1, "lines": 1, "bytes": 2, "bad_lines": 0, "blank_lines": 0}
    section = sum_section(one, dataset="d")
    assert section.table[1][0][0] == expected
    digits = len(str(abs(total)))
    where = f" ({digits} digits, in total.json)" if digits > 20 else ""
    assert f"add up to {expected}{where}. 0 bad lines" in section.text


def test_a_total_of_thousands_of_digits_is_read_and_shown(tmp_path):
    """Python reads no int of over 4,300 digits by default: the page's reader takes any size."""
    from poolpipe.core.outputs import dumps_json
    from poolpipe.report.results import result_sections

    total = 10**5000 + 6 * 10**4995 + 7
    path = tmp_path / "big" / "total.json"
    path.parent.mkdir()
    counts = {"numbers": 2, "lines": 2, "bytes": 5010, "bad_lines": 0, "blank_lines": 0}
    path.write_text(dumps_json({"total": total, **counts}))
    (section,) = result_sections(sum_totals=[path])
    assert "add up to about 1.000e5000 (5001 digits, in total.json)." in section.text
    assert section.table[1][0][0] == "about 1.000e5000"


def test_the_sum_and_the_baseline_count_one_thing_in_the_singular():
    from poolpipe.report.compare import Change, changes_summary
    from poolpipe.report.results import sum_section

    one = {"total": 7, "numbers": 1, "lines": 1, "bytes": 2, "bad_lines": 1, "blank_lines": 0}
    assert sum_section(one, dataset="d").text.startswith("1 number in 2 B add up to 7. 1 bad line")
    assert sum_section({**one, "numbers": 2}, dataset="d").text.startswith("2 numbers in")
    big = sum_section({**one, "numbers": 59_999_990, "lines": 60_000_000}, dataset="d")
    assert big.table[1][0][1:3] == ["59\u2009999\u2009990", "60\u2009000\u2009000"]
    bad = {**one, "bad_examples": [{"line": 3, "text": "x", "reason": "not UTF-8"}]}
    assert sum_section(bad, dataset="d").text.endswith("The first bad line is line 3 (not UTF-8).")
    older = {**one, "bad_examples": [{"line": 3, "text": "x"}]}  # a total.json without reasons
    assert sum_section(older, dataset="d").text.endswith("The first bad line is line 3.")
    slower = Change(
        rule="sum_chunk",
        dataset="d",
        chunk="0",
        before_s=1.0,
        after_s=2.0,
        ratio=2.0,
        threshold=1.5,
        mark="slower",
    )
    assert changes_summary([slower]).startswith("Against the baseline: 1 job slower, 0 faster")
    assert changes_summary([slower, slower]).startswith("Against the baseline: 2 jobs slower")


def test_the_speedup_panel_says_so_when_no_stage_was_rerun(monkeypatch):
    from poolpipe.report import plots

    monkeypatch.setattr(plots, "_png", lambda fig: fig)
    empty = plots.stage_times(["sum", "crawl"], [1.0, 2.0], [None, None]).axes[1]
    assert not empty.axison and empty.texts[0].get_text().startswith("not measured in this run")
    measured = plots.stage_times(["sum", "crawl"], [1.0, 2.0], [(1.8, 1.5, 1.9), None]).axes[1]
    assert measured.axison and not measured.texts
    assert [t.get_text() for t in measured.get_xticklabels()] == ["sum"]
