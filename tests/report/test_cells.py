"""How the page writes a number: three significant figures with a unit, never a bare 0 p-value,
no rate for a job too short to measure one."""

from __future__ import annotations

import pytest

from poolpipe.report.cells import count, figures, p_value, rate, seconds, sig3, size, times


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (133_000_000.0, "1.33e8"),
        (8.54e9, "8.54e9"),
        (98_500.0, "98\u2009500"),
        (0.00123, "0.00123"),
        (3e-7, "3e-7"),
        (0.0, "0"),
    ],
)
def test_three_significant_figures(value, text):
    assert sig3(value) == text


def test_units_for_times_sizes_and_counts():
    assert seconds(0.287) == "287 ms" and seconds(1.6) == "1.6 s" and seconds(150) == "2.5 min"
    assert seconds(225e-6) == "225 µs" and seconds(0) == "0 s" and seconds(None) == ""
    assert size(683_335_333) == "683 MB" and size(4100) == "4.1 KB" and size(12) == "12 B"
    assert size(2.5e9) == "2.5 GB"
    assert count(19_995, "rows") == "19\u2009995 rows" and count(98_500_000, "numbers") == (
        "98.5 M numbers"
    )
    assert times(1.6) == "1.6x"


def test_a_p_value_is_never_zero():
    assert p_value(0.0) == "< 1e-300" and p_value(1e-301) == "< 1e-300"
    assert p_value(1e-300) == "1e-300" and p_value(3.3e-17) == "3.3e-17"
    assert p_value(0.0123) == "0.0123" and p_value(None) == ""
    assert p_value(0.012345, 4) == "0.01235" and figures(1916.2, 4) == "1916"


def test_a_job_too_short_to_measure_has_no_rate():
    assert rate(683_335_333, 0.007, "B") == ""
    assert rate(683_335_333, 1.0, "B") == "683 MB/s"
    assert rate(98_500_000, 1.0, "numbers") == "98.5 M numbers/s"
