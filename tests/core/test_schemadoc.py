"""config/schema.yaml describes every setting once: each key has a description and a finite
range, and config/README.md's key lists are made from it, never edited by hand."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from poolpipe.core import schemadoc
from poolpipe.core.defaults import types_of

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config"
SCHEMAS = schemadoc.SCHEMAS


def _schema(name: str) -> dict[str, Any]:
    return yaml.safe_load((CONFIG / name).read_text())


def _keys(node: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every key under node, nested ones and the keys of list items too."""
    for name, child in node.get("properties", {}).items():
        yield prefix + name, child
        yield from _keys(child, f"{prefix}{name}.")
        if isinstance(child.get("items"), dict):
            yield from _keys(child["items"], f"{prefix}{name}[].")


def _unbounded(node: dict[str, Any]) -> str:
    """What leaves a setting's values without a finite range, or ''."""
    kinds = types_of(node)
    if "enum" in node or kinds in (["boolean"], ["object"]):
        return ""
    if ("integer" in kinds or "number" in kinds) and not (
        "maximum" in node and ("minimum" in node or "exclusiveMinimum" in node)
    ):
        return "a number without a minimum and a maximum"
    bounded_pattern = re.search(r"\{\d+,\d+\}\$$", node.get("pattern", ""))
    if "string" in kinds and "maxLength" not in node and not bounded_pattern:
        return "a string without a maxLength"
    if "array" in kinds:
        item = node.get("items", {})
        finite_items = "enum" in item and node.get("uniqueItems")
        if "maxItems" not in node and not finite_items:
            return "a list without a maxItems"
        return _unbounded(item)
    return ""


@pytest.mark.parametrize("name", SCHEMAS)
def test_every_key_has_a_description_and_a_finite_range(name):
    keys = list(_keys(_schema(name)))
    assert len(keys) > 8
    for key, node in keys:
        assert node.get("description", "").strip(), f"{name}: {key} has no description"
        if node.get("deprecated"):
            continue  # a retired key: any value is refused by the workflow, naming the sheet
        assert "type" in node, f"{name}: {key} has no type"
        problem = _unbounded(node)
        assert not problem, f"{name}: {key} is {problem}"


def test_the_key_lists_of_config_readme_are_made_from_the_schemas():
    readme = CONFIG / "README.md"
    text = readme.read_text()
    fresh = schemadoc.render(text, _schema("schema.yaml"), _schema("datasets.schema.yaml"))
    assert fresh == text, f"config/README.md's key lists are stale: run {schemadoc.COMMAND}"


def test_every_section_and_every_key_is_in_a_list():
    text = (CONFIG / "README.md").read_text()
    schema = _schema("schema.yaml")
    sections = [k for k, v in schema["properties"].items() if "properties" in v]
    assert sorted(schemadoc.sections(text)) == sorted(["sheet", "top", *sections])
    for key, node in _keys(schema):
        if not node.get("deprecated"):
            assert re.search(rf"^`{re.escape(key)}[`:]", text, re.MULTILINE), key
    for column in _schema("datasets.schema.yaml")["properties"]:
        assert re.search(rf"^`{column}`", text, re.MULTILINE), column


def test_the_command_rewrites_a_stale_list_and_the_check_fails_on_one(tmp_path, capsys):
    for name in SCHEMAS:
        (tmp_path / name).write_text((CONFIG / name).read_text())
    page = tmp_path / "README.md"
    page.write_text("# T\n\n<!-- keys: sum -->\n| old |\n<!-- end keys -->\nend\n")
    assert schemadoc.main([str(page), "--check"]) == 1
    assert f"run {schemadoc.COMMAND}" in capsys.readouterr().err
    assert "| old |" in page.read_text()
    assert schemadoc.main([str(page)]) == 0
    text = page.read_text()
    assert "| old |" not in text and "\n`sum.chunks: 2`: integer 1\N{EN DASH}1024. " in text
    assert text.endswith("<!-- end keys -->\nend\n")
    assert schemadoc.main([str(page), "--check"]) == 0


def test_a_missing_page_is_one_sentence(tmp_path, capsys):
    assert schemadoc.main([str(tmp_path / "README.md")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{schemadoc.COMMAND}: error: cannot read ") and err.count("\n") == 1


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        (
            "description",
            "jobs per file; more is fine",
            "`sum.chunks: 2`: integer 1\N{EN DASH}1024. Jobs",
        ),
        ("maximum", 512, "`sum.chunks: 2`: integer 1\N{EN DASH}512. "),
        ("default", 3, "`sum.chunks: 3`: integer 1\N{EN DASH}1024. "),
    ],
)
def test_a_schema_change_makes_the_page_stale_until_it_is_made_again(tmp_path, field, value, shown):
    for name in (*SCHEMAS, "README.md"):
        (tmp_path / name).write_text((CONFIG / name).read_text())
    schema = _schema("schema.yaml")
    schema["properties"]["sum"]["properties"]["chunks"][field] = value
    (tmp_path / "schema.yaml").write_text(yaml.safe_dump(schema, allow_unicode=True))
    page = tmp_path / "README.md"
    assert schemadoc.main([str(page), "--check"]) == 1
    assert schemadoc.main([str(page)]) == 0
    assert f"\n{shown}" in page.read_text()
    assert schemadoc.main([str(page), "--check"]) == 0


@pytest.mark.parametrize(
    ("description", "first"),
    [
        ("the column to predict", "The column to predict."),
        ("fit an intercept; false fits through the origin", "Fit an intercept."),
        ("seconds (0, none; 1, all) of it. More later", "Seconds (0, none; 1, all) of it."),
        ("processes at 1, 2, ... up to this; more", "Processes at 1, 2, ... up to this."),
        ("bench_cpu, a loop", "bench_cpu, a loop."),
        ("none: keep sizes; warc: keep all", "none: keep sizes."),
    ],
)
def test_the_page_shows_a_description_up_to_its_first_sentence_break(description, first):
    assert schemadoc.first_sentence(description) == first
