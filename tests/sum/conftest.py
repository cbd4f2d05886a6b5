"""Every sum test runs twice: on the C scanner, and on its numpy fallback (an install without a
compiler), which must give the same totals, counts and examples on the whole corpus."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from poolpipe.sum import SCANNER, numbers, pyscan, scanner_note

WITHOUT_C = (
    "import sys; sys.modules['poolpipe.sum._scan'] = None; "
    "from poolpipe.cli import main; sys.exit(main())"
)
"""Runs the `poolpipe` command as if the C scanner had not been built (its import fails)."""


@pytest.fixture(autouse=True, params=["C", "numpy"])
def scanner(request, monkeypatch):
    """The scanner a test runs on; the numpy one replaces the extension in this process."""
    if request.param == "C" and SCANNER != "C":
        pytest.skip("the C scanner is not built here")
    if request.param == "numpy":
        monkeypatch.setattr(numbers, "_scan", pyscan)
    return request.param


@pytest.fixture
def poolpipe_cli(scanner):
    """The `poolpipe` command (argv before its subcommand) on the test's scanner."""
    if scanner == "numpy":
        return [sys.executable, "-c", WITHOUT_C]
    return [str(Path(sys.executable).with_name("poolpipe"))]


NOTE = f"poolpipe: note: {scanner_note('numpy')}\n"
"""The line the command writes once on stderr when it runs without the C scanner."""


def drop_note(stderr: str, scanner: str) -> str:
    """stderr without the slow-path note, checked to be there exactly once (numpy) or not at all."""
    assert stderr.count(NOTE) == (1 if scanner == "numpy" else 0), stderr
    return stderr.replace(NOTE, "")
