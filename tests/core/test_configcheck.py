"""The workflow's config check: one sentence per mistake (key path, what is wrong, the nearest
valid key or value), the schema's defaults filled in."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from poolpipe.core import check_config
from poolpipe.errors import PoolpipeError

SCHEMA = yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "config" / "schema.yaml").read_text()
)


@pytest.mark.parametrize(
    ("config", "sentence"),
    [
        ({"stage": ["sum"]}, "config key 'stage' is not a setting; did you mean 'stages'?"),
        (
            {"sum": {"chunk": 8}},
            "config key 'sum.chunk' is not a setting; did you mean 'sum.chunks'?",
        ),
        (
            {"sum": {"chunks": "8"}},
            "config key 'sum.chunks': '8' is not of type integer (at least 1 and at most 1024); "
            "--config gives nested values as text, so set nested keys in a --configfile",
        ),
        (
            {"sum": {"chunks": 0}},
            "config key 'sum.chunks': 0 is out of range (at least 1 and at most 1024)",
        ),
        (
            {"crawl": {"timeouts": {"deadline": math.inf}}},
            "config key 'crawl.timeouts.deadline': inf is not a finite number",
        ),
        (
            {"train": {"alpha": math.nan}},
            "config key 'train.alpha': nan is not a finite number (at least 1e-300 and at "
            "most 0.5)",
        ),
        (
            {"sum": {"chunks": 10**400}},
            "config key 'sum.chunks': a whole number of 401 digits is out of range (at least 1",
        ),
        (
            {"demo": {"train": {"noise": -math.inf}}},
            "config key 'demo.train.noise': -inf is not a finite number",
        ),
        (
            {"stages": ["summ"]},
            "config key 'stages[0]': 'summ' is not a valid value; did you mean 'sum'?",
        ),
        (
            {"crawl": {"store": "warcs"}},
            "config key 'crawl.store': 'warcs' is not a valid value; did you mean 'warc'?",
        ),
        (
            {"group_chunks": "false"},
            "config key 'group_chunks': 'false' is not of type boolean; "
            "write True or False (Snakemake's --config reads only those as booleans)",
        ),
        (
            {"inputs": {"hash_content": "True"}},  # --config 'inputs={hash_content: True}'
            "config key 'inputs.hash_content': 'True' is not of type boolean; "
            "--config gives nested values as text, so set nested keys in a --configfile",
        ),
        ({"stages": "sum"}, "config key 'stages': 'sum' is not of type array; write a list: [sum]"),
        (
            {"train": {"chunks": "1e9"}},
            "config key 'train.chunks': '1e9' is not of type integer (at least 1 and at most "
            "1024); YAML reads 1e9 as text: write it with a decimal point (1.0e+9)",
        ),
        (
            {"inputs": {"hash_contents": True}},
            "config key 'inputs.hash_contents' is not a setting; "
            "did you mean 'inputs.hash_content'?",
        ),
        (
            {"supervise": {"programs": [{"name": "a", "command": "echo a\0b"}]}},
            "config key 'supervise.programs[0].command' holds a NUL character, which no path or "
            "command can",
        ),
        (
            {"train": {"target": "y\0"}},
            "config key 'train.target' holds a NUL character, which no path or command can",
        ),
    ],
)
def test_a_mistake_is_one_short_line_naming_the_key(config, sentence):
    with pytest.raises(PoolpipeError) as caught:
        check_config(config, SCHEMA)
    text = str(caught.value)
    assert text.startswith(sentence)
    assert "\n" not in text and len(text) < 300


def test_a_valid_config_gets_the_schemas_defaults():
    config = check_config({"sum": {"chunks": 4}}, SCHEMA)
    assert config["sum"]["chunks"] == 4
    assert config["inputs"] == {"hash_content": False}
    assert config["timing"] == {"compare_serial": False}


def test_a_whole_number_written_with_a_point_is_taken_as_an_integer():
    config = check_config({"sum": {"chunks": 4.0}, "tasks": {"timeout_s": 4.0}}, SCHEMA)
    assert type(config["sum"]["chunks"]) is int and config["sum"]["chunks"] == 4
    assert type(config["tasks"]["timeout_s"]) is float  # a number setting keeps its float
