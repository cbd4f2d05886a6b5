"""The command's help: argparse's, as wide as the terminal, found without importing shutil."""

import argparse
import shutil

import pytest

import poolpipe.cli
from poolpipe.cli import main, terminal_columns


@pytest.mark.parametrize("columns", [None, "100", "0", "-3", "wide"])
def test_the_terminal_is_as_wide_as_shutil_finds_it(monkeypatch, columns):
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    assert terminal_columns() == shutil.get_terminal_size().columns


@pytest.mark.parametrize("command", [[], ["sum"], ["crawl"], ["train"]])
def test_the_help_is_argparses_own(monkeypatch, capsys, command):
    monkeypatch.setenv("COLUMNS", "71")
    texts = []
    for formatter in (poolpipe.cli._HelpFormatter, argparse.HelpFormatter):
        monkeypatch.setattr(poolpipe.cli, "_HelpFormatter", formatter)
        with pytest.raises(SystemExit):
            main([*command, "--help"])
        texts.append(capsys.readouterr().out)
    assert texts[0] == texts[1]
    assert "usage: poolpipe" in texts[0]


def test_an_unknown_option_is_named_with_the_commands_own_usage(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["sum", "n.txt", "--procs", "2"])
    assert stop.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("usage: poolpipe sum [-h]")
    assert lines[-1] == "poolpipe sum: error: unrecognized arguments: --procs 2"
    with pytest.raises(SystemExit):
        main(["bogus"])
    assert capsys.readouterr().err.startswith("usage: poolpipe [-h] [--version] COMMAND ...\n")


def test_what_the_help_names_is_taken_as_the_help_says(tmp_path, capsys):
    """The delimiter's help says "\\t" for TSV and --features says empty means every other
    column: both, typed as the help writes them, are taken."""
    path = tmp_path / "t.tsv"
    path.write_text("a\tb\ty\n1\t2\t3\n2\t1\t4\n3\t3\t7\n4\t1\t5\n")
    assert main(["train", str(path), "--target", "y", "--delimiter", "\\t", "--features", ""]) == 0
    assert '"features": [\n    "a",\n    "b"\n  ]' in capsys.readouterr().out


def test_a_number_in_other_digits_is_refused_and_null_is_no_limit(tmp_path, capsys):
    path = tmp_path / "n.txt"
    path.write_text("1\n2\n")
    with pytest.raises(SystemExit):
        main(["sum", str(path), "--processes", "\uff13"])  # a fullwidth 3
    assert "'\uff13' is not a whole number" in capsys.readouterr().err
    (tmp_path / "root").mkdir()
    (tmp_path / "m.jsonl").write_text('{"op": "write", "path": "a.txt", "content": "hi"}\n')
    args = ["tasks", str(tmp_path / "m.jsonl"), "--root", str(tmp_path / "root")]
    assert main([*args, "--out", str(tmp_path / "r.tsv"), "--timeout", "null"]) == 0


def test_the_none_the_help_names_for_a_text_option_is_taken_as_none():
    """--previous null and --user-agent null (the help's "null") mean none and the default,
    and --baseline "" (the help's "empty") means no baseline."""
    from poolpipe.core import USER_AGENT

    crawl = poolpipe.cli.build_parser("crawl").parse_args(
        ["crawl", "u.txt", "--out", "p.tsv", "--previous", "null", "--user-agent", "null"]
    )
    assert (crawl.previous, crawl.user_agent) == (None, USER_AGENT)
    report = poolpipe.cli.build_parser("report").parse_args(["report", "--baseline", ""])
    assert report.baseline is None
