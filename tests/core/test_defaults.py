"""config/schema.yaml is the one source of every default: the library, the command line and
the workflow's validated config all get the same values from it."""

from __future__ import annotations

import argparse
import copy
import json
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from snakemake.utils import validate

import poolpipe.core
from poolpipe import __version__
from poolpipe.cli import build_parser
from poolpipe.cli.crawl import DEMO_SITE_PAGES
from poolpipe.core import USER_AGENT, check_config, schema_defaults
from poolpipe.core.defaults import (
    SCHEMA_CACHE,
    Bounds,
    read_schema,
    schema_bounds,
    schema_setting,
)
from poolpipe.crawl import CrawlSettings

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "config/schema.yaml"
SECTIONS = (
    "demo",
    "sum",
    "train",
    "predict",
    "inputs",
    "timing",
    "report",
    "bench",
    "tasks",
    "supervise",
    "crawl",
)


def _validated(config: dict[str, Any]) -> dict[str, Any]:
    """The config as the workflow sees it: validated, the schema's defaults filled in."""
    return check_config(copy.deepcopy(config), yaml.safe_load(SCHEMA.read_text()))


def _schema_value(path: str) -> Any:
    """The schema's default of one setting, e.g. "crawl.timeouts.deadline"."""
    section, *keys = path.split(".")
    value = schema_defaults(section)
    for key in keys:
        value = value[key]
    return value


def test_the_defaults_are_what_the_workflow_validation_fills_in():
    filled = _validated({})
    by_snakemake: dict[str, Any] = {}
    validate(by_snakemake, str(SCHEMA))  # the check the workflow replaces fills in the same
    assert json.dumps(by_snakemake) == json.dumps(filled)
    assert sorted(k for k, v in filled.items() if isinstance(v, dict)) == sorted(SECTIONS)
    for section in SECTIONS:
        # JSON text, so that 5 and 5.0 or a changed key order would differ too
        assert json.dumps(schema_defaults(section)) == json.dumps(filled[section]), section


def test_a_section_may_be_nested_and_comes_as_a_fresh_copy():
    assert schema_defaults("demo.crawl") == schema_defaults("demo")["crawl"]
    crawl = schema_defaults("crawl")
    crawl["retries"]["statuses"].append(599)
    assert 599 not in schema_defaults("crawl")["retries"]["statuses"]


@pytest.mark.parametrize("section", ["nothing", "crawl.nothing", "crawl.max_bytes"])
def test_a_missing_section_is_a_key_error(section):
    with pytest.raises(KeyError, match=r"config/schema\.yaml"):
        schema_defaults(section)


def test_the_package_reads_the_config_schema_itself():
    shipped = Path(poolpipe.core.__file__).parent / "schema.yaml"
    assert shipped.is_symlink() and shipped.resolve() == SCHEMA.resolve()
    text = resources.files("poolpipe.core").joinpath("schema.yaml").read_bytes()
    assert text == SCHEMA.read_bytes()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "schema.yaml" in pyproject["tool"]["setuptools"]["package-data"]["poolpipe.core"]


def test_crawl_settings_defaults_are_the_schema_defaults():
    assert CrawlSettings() == CrawlSettings.from_config(schema_defaults("crawl"))
    demo_config = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    assert CrawlSettings.from_config(_validated(demo_config)["crawl"]) == CrawlSettings()


def test_the_user_agent_is_built_from_the_version():
    assert schema_defaults("crawl")["user_agent"] is None
    assert __version__ in USER_AGENT
    assert CrawlSettings().user_agent == USER_AGENT == f"poolpipe/{__version__}"
    assert CrawlSettings.from_config({"user_agent": None}).user_agent == USER_AGENT
    assert CrawlSettings.from_config({"user_agent": "bot/2"}).user_agent == "bot/2"


def test_the_demo_config_sets_on_purpose_only_what_differs():
    demo_config = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    demo_run = _validated(demo_config)
    defaults = _validated({})
    assert demo_run["train"].pop("compare_full_fit") is True
    assert demo_run["timing"].pop("compare_serial") is True
    del defaults["train"]["compare_full_fit"], defaults["timing"]["compare_serial"]
    assert demo_run == defaults


REQUIRED = {
    "crawl": ["urls.txt", "--out", "pages.tsv"],
    "demo-urls": ["urls.txt"],
    "demo-numbers": ["numbers.txt"],
    "train": ["train.csv", "--target", "y"],
    "demo-train": ["train.csv"],
    "demo-tasks": ["manifest.jsonl", "root"],
    "supervise": [],
    "tasks": ["manifest.jsonl", "--root", "root", "--out", "results.tsv"],
    "predict": ["model.json", "data.csv", "--out", "pred.csv"],
    "report": [],
    "sum": ["numbers.txt"],
}
"""Each subcommand with only its required arguments, so that every option has its default."""

SHARED = [
    ("crawl", "concurrency", "crawl.concurrency"),
    ("crawl", "per_host", "crawl.per_host"),
    ("crawl", "per_host_delay", "crawl.per_host_delay"),
    ("crawl", "deadline", "crawl.timeouts.deadline"),
    ("crawl", "retries", "crawl.retries.max"),
    ("crawl", "max_bytes", "crawl.max_bytes"),
    ("demo-urls", "pages", "demo.crawl.pages"),
    ("demo-urls", "seed", "demo.seed"),
    ("demo-urls", "duplicates", "demo.crawl.duplicates"),
    ("demo-numbers", "seed", "demo.seed"),
    ("train", "delimiter", "train.delimiter"),
    ("train", "full_fit_max_mb", "train.full_fit_max_mb"),
    ("train", "strict", "train.strict"),
    ("demo-train", "rows", "demo.train.rows"),
    ("demo-train", "intercept", "demo.train.intercept"),
    ("demo-train", "noise", "demo.train.noise"),
    ("demo-train", "seed", "demo.seed"),
    ("demo-tasks", "files", "demo.tasks.files"),
    ("demo-tasks", "tasks", "demo.tasks.tasks"),
    ("demo-tasks", "seed", "demo.seed"),
    ("supervise", "max_restarts", "supervise.max_restarts"),
    ("supervise", "heartbeat_timeout", "supervise.heartbeat_timeout_s"),
    ("supervise", "stop_timeout", "supervise.stop_timeout_s"),
]
"""(subcommand, option, schema setting): the command line's default is the schema's."""

CLI_OWN = [
    ("demo-numbers", "lines", "demo.numbers.lines"),
    ("demo-numbers", "blank_lines", "demo.numbers.blank_lines"),
    ("demo-numbers", "bad_lines", "demo.numbers.bad_lines"),
    ("demo-train", "bad_rows", "demo.train.bad_rows"),
    ("train", "chunks", "train.chunks"),
    ("supervise", "duration", "supervise.duration_s"),
    ("supervise", "restart", "supervise.restart"),
]
"""Defaults the command line keeps on purpose, each explained in its --help."""


def _cli_default(command: str, option: str) -> Any:
    args = build_parser().parse_args([command, *REQUIRED[command]])
    return getattr(args, option)


@pytest.mark.parametrize(("command", "option", "setting"), SHARED)
def test_the_command_line_defaults_are_the_schema_defaults(command, option, setting):
    assert _cli_default(command, option) == _schema_value(setting)


@pytest.mark.parametrize(("command", "option", "setting"), CLI_OWN)
def test_the_command_line_keeps_these_defaults_of_its_own(command, option, setting):
    assert _cli_default(command, option) != _schema_value(setting)


def test_the_demo_site_of_the_crawl_command_serves_more_pages_than_the_workflow_lists():
    assert _cli_default("crawl", "demo_pages") is None  # given only with --demo-site
    assert _schema_value("demo.crawl.pages") < DEMO_SITE_PAGES


def test_the_crawl_command_defaults_are_the_crawl_settings_defaults():
    args = build_parser().parse_args(["crawl", *REQUIRED["crawl"]])
    settings = CrawlSettings()
    assert args.user_agent == settings.user_agent == USER_AGENT
    for option in ("concurrency", "per_host", "per_host_delay", "deadline", "retries", "max_bytes"):
        assert getattr(args, option) == getattr(settings, option), option
    assert args.robots is settings.robots is True
    assert args.internal_redirects is settings.internal_redirects is False


def test_a_settings_bounds_are_read_from_the_schema():
    assert schema_bounds("crawl.timeouts.deadline") == Bounds(0, 3600, above=True)
    assert schema_bounds("sum.chunks") == Bounds(1, 1024)
    assert schema_bounds("demo.train.intercept") == Bounds(-1_000_000_000, 1_000_000_000)
    with pytest.raises(KeyError, match=r"no setting 'crawl\.nothing'"):
        schema_bounds("crawl.nothing")


def test_bounds_say_what_is_wrong_in_words():
    deadline = Bounds(0, 3600, above=True)
    assert deadline.problem(60.0) == deadline.problem(3600) == ""
    assert deadline.problem(0.0) == "must be more than 0, not 0"
    assert deadline.problem(float("inf")) == "must be at most 3600, not inf"
    assert deadline.problem(1e9) == "must be at most 3600, not 1000000000"
    nan = "must be a number more than 0 and at most 3600, not nan"
    assert deadline.problem(float("nan")) == nan
    assert Bounds().problem(float("nan")) == "must be a number, not nan"
    assert Bounds(1, 1024).problem(0) == "must be at least 1, not 0"
    assert Bounds(1, 1024).text() == "at least 1 and at most 1024"


RANGED = [
    ("crawl", "--processes", "crawl.threads"),
    ("crawl", "--concurrency", "crawl.concurrency"),
    ("crawl", "--per-host", "crawl.per_host"),
    ("crawl", "--per-host-delay", "crawl.per_host_delay"),
    ("crawl", "--deadline", "crawl.timeouts.deadline"),
    ("crawl", "--retries", "crawl.retries.max"),
    ("crawl", "--max-bytes", "crawl.max_bytes"),
    ("train", "--chunks", "train.chunks"),
    ("train", "--processes", "train.threads"),
    ("crawl", "--demo-pages", "demo.crawl.pages"),
    ("demo-numbers", "--lines", "demo.numbers.lines"),
    ("demo-numbers", "--blank-lines", "demo.numbers.blank_lines"),
    ("demo-numbers", "--bad-lines", "demo.numbers.bad_lines"),
    ("demo-numbers", "--seed", "demo.seed"),
    ("demo-train", "--rows", "demo.train.rows"),
    ("demo-train", "--intercept", "demo.train.intercept"),
    ("demo-train", "--noise", "demo.train.noise"),
    ("demo-train", "--bad-rows", "demo.train.bad_rows"),
    ("demo-tasks", "--files", "demo.tasks.files"),
    ("demo-tasks", "--tasks", "demo.tasks.tasks"),
    ("demo-urls", "--pages", "demo.crawl.pages"),
    ("demo-urls", "--duplicates", "demo.crawl.duplicates"),
    ("supervise", "--max-restarts", "supervise.max_restarts"),
    ("supervise", "--duration", "supervise.duration_s"),
    ("supervise", "--heartbeat-timeout", "supervise.heartbeat_timeout_s"),
    ("supervise", "--restart-jitter", "supervise.restart_jitter"),
    ("train", "--full-fit-max-mb", "train.full_fit_max_mb"),
    ("train", "--ridge", "train.ridge"),
    ("tasks", "--timeout", "tasks.timeout_s"),
    ("tasks", "--retries", "tasks.retries"),
    ("report", "--compare-factor", "report.compare_factor"),
]
"""(subcommand, option, schema setting): the option's range is the setting's."""


@pytest.mark.parametrize(("command", "option", "setting"), RANGED)
def test_the_command_line_ranges_are_the_schema_ranges(command, option, setting, capsys):
    bounds = schema_bounds(setting)
    parser = build_parser()
    for value in (bounds.low, bounds.high):
        ok = str(value) if not bounds.above or value != bounds.low else str(value + 1)
        parser.parse_args([command, *REQUIRED[command], option, ok])
    for value in (bounds.high + 1, bounds.low - 1 if not bounds.above else bounds.low):
        with pytest.raises(SystemExit):
            parser.parse_args([command, *REQUIRED[command], option, str(value)])
    assert f"argument {option}: must be" in capsys.readouterr().err


def _schema_copy(tmp_path: Path) -> Path:
    source = tmp_path / "schema.yaml"
    source.write_text(SCHEMA.read_text())
    return source


def test_the_parsed_schema_is_kept_and_read_back_the_same(tmp_path, monkeypatch):
    source = _schema_copy(tmp_path)
    expected = yaml.safe_load(SCHEMA.read_text())
    assert read_schema(source) == expected
    kept = tmp_path / SCHEMA_CACHE
    assert json.loads(kept.read_text())["schema"] == expected
    monkeypatch.setattr(yaml, "load", None)  # a second read must not parse the YAML
    assert read_schema(source) == expected


def test_a_changed_schema_is_parsed_again(tmp_path):
    source = _schema_copy(tmp_path)
    read_schema(source)
    source.write_text(SCHEMA.read_text() + "title: changed\n")
    assert read_schema(source)["title"] == "changed"


@pytest.mark.parametrize("kept", ["{not json", '{"stamp": 1}', '{"stamp": [0, 0], "schema": {}}'])
def test_a_broken_or_stale_copy_is_ignored(tmp_path, kept):
    source = _schema_copy(tmp_path)
    (tmp_path / SCHEMA_CACHE).parent.mkdir()
    (tmp_path / SCHEMA_CACHE).write_text(kept)
    assert read_schema(source) == yaml.safe_load(SCHEMA.read_text())


def test_a_folder_where_no_copy_can_be_kept_still_reads(tmp_path):
    source = _schema_copy(tmp_path)
    (tmp_path / SCHEMA_CACHE.parent).write_text("a file where the folder would go")
    assert read_schema(source) == yaml.safe_load(SCHEMA.read_text())


@pytest.mark.parametrize(
    ("coef", "problem"),
    [
        ("a,b", "'a' is not a number"),
        ("1,,2", "'' is not a number"),
        ("nan", "must be a number at least"),
        ("1e10", "must be at most 1000000000"),
        (",".join(["1"] * 255), "255 numbers given, 1 to 254 allowed"),
    ],
)
def test_demo_coefficients_outside_the_schema_are_one_sentence(coef, problem, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["demo-train", "t.csv", "--coef", coef])
    assert problem in capsys.readouterr().err


def test_demo_coefficients_inside_the_schema_are_read():
    args = build_parser().parse_args(["demo-train", "t.csv", "--coef", "1, -2.5,1e9"])
    assert args.coef == [1.0, -2.5, 1e9]
    assert build_parser().parse_args(["demo-train", "t.csv", "--features", "254"]).features == 254


def _option(command: str, option: str) -> argparse.Action:
    parser = build_parser(command)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return next(a for a in sub.choices[command]._actions if option in a.option_strings)


OPTIONS = sorted(
    {(c, o, s) for c, o, s in RANGED if o != "--demo-pages"}
    | {
        ("train", "--alpha", "train.alpha"),
        ("train", "--robust", "train.robust"),
        ("train", "--delimiter", "train.delimiter"),
        ("train", "--features", "train.features"),
        ("train", "--no-intercept", "train.intercept"),
        ("predict", "--method", "predict.method"),
        ("crawl", "--store", "crawl.store"),
        ("crawl", "--no-robots", "crawl.robots"),
        ("crawl", "--previous", "crawl.previous"),
        ("sum", "--strict", "sum.strict"),
        ("supervise", "--stop-timeout", "supervise.stop_timeout_s"),
        ("report", "--baseline", "report.baseline"),
    }
)
"""(subcommand, option, schema setting) for options of every kind: numbers, choices, text,
lists and flags (--demo-pages only shares a range: it is no config key)."""


@pytest.mark.parametrize(("command", "option", "setting"), OPTIONS)
def test_an_option_takes_its_help_and_choices_from_the_schema(command, option, setting):
    node = schema_setting(setting)
    action = _option(command, option)
    if option != "--processes":  # the pool of a command, not of a workflow's job
        assert node["description"].replace("%", "%%") in action.help
    assert f"[config: {setting}]" in action.help
    assert action.choices == node.get("enum")
    if node.get("type") == "boolean":
        assert action.const is not node["default"]  # a flag turns the schema's default over


@pytest.mark.parametrize(
    ("command", "args", "problem"),
    [
        (
            "train",
            ["--delimiter", " "],
            "argument --delimiter: must be 1 character matching "
            "^(?![\"\\x20\\r\\n])[\\x01-\\x7f]$, not ' '",
        ),
        ("train", ["--delimiter", "::"], "argument --delimiter: must be 1 character matching"),
        ("train", ["--features", "a,a"], "argument --features: 'a,a' names a value twice"),
        ("train", ["--features", "a,,b"], "argument --features: must be 1 to 1024 characters"),
        ("train", ["--robust", "hc4"], "argument --robust: invalid choice: 'hc4'"),
        ("predict", ["--method", "best"], "argument --method: invalid choice: 'best'"),
        ("tasks", ["--timeout", "0"], "argument --timeout: must be more than 0, not 0"),
    ],
)
def test_a_value_outside_the_schema_is_one_sentence(command, args, problem, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args([command, *REQUIRED[command], *args])
    assert problem in capsys.readouterr().err.splitlines()[-1]


def test_a_list_option_is_read_comma_separated():
    args = build_parser().parse_args(["train", *REQUIRED["train"], "--features", "b, a"])
    assert args.features == ["b", "a"]
    assert build_parser().parse_args(["train", *REQUIRED["train"]]).features == []
