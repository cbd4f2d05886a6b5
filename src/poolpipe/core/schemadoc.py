"""The key tables of config/README.md, made from config/schema.yaml and
config/datasets.schema.yaml: a setting is described once, in its schema's `description`.

Each table sits between two marker lines, `<!-- keys: SECTION -->` and `<!-- end keys -->`,
where SECTION is a section of the config ("crawl", "demo"), "top" for the top-level settings
that are not sections, or "sheet" for the columns of the dataset sheet. Rewrite the tables with

    python -m poolpipe.core.schemadoc            (or: make config-tables)

and check them with `--check`, which changes nothing and fails when a table is stale.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from poolpipe.core.defaults import _number, range_words, types_of
from poolpipe.core.outputs import write_atomic
from poolpipe.errors import PoolpipeError, run_guarded

README = Path("config", "README.md")
"""The page the tables go into; the two schemas are read from its folder."""

SCHEMAS = ("schema.yaml", "datasets.schema.yaml")
"""The config's schema and the dataset sheet's, beside the page."""

COMMAND = "python -m poolpipe.core.schemadoc"
"""The command that rewrites the tables, as the stale check names it."""

_BLOCK = re.compile(r"(<!-- keys: ([\w.]+) -->\n).*?(<!-- end keys -->)", re.DOTALL)


def render(text: str, schema: dict[str, Any], sheet: dict[str, Any]) -> str:
    """The page's text with every marked table made again from the schemas."""

    def table(match: re.Match[str]) -> str:
        section = match.group(2)
        rows = _sheet_rows(sheet) if section == "sheet" else _key_rows(schema, section)
        return match.group(1) + "\n".join(rows) + "\n" + match.group(3)

    return _BLOCK.sub(table, text)


def sections(text: str) -> list[str]:
    """The sections the page has a table for, in page order."""
    return [match.group(2) for match in _BLOCK.finditer(text)]


def _key_rows(schema: dict[str, Any], section: str) -> list[str]:
    """The table of a config section: the section and every key below it, nested ones and
    list items too."""
    rows = ["| key | type and range | default | meaning |", "| --- | --- | --- | --- |"]
    if section == "top":
        props = {k: v for k, v in schema["properties"].items() if "object" not in types_of(v)}
        found: Iterator[tuple[str, dict[str, Any], bool]] = _walk(props, "", set())
    else:
        *parents, name = section.split(".")
        node = schema
        for key in parents:
            node = node["properties"][key]
        found = _walk({name: node["properties"][name]}, "".join(f"{k}." for k in parents), set())
    for key, node, required in found:
        if node.get("deprecated"):
            continue
        if "properties" in node:
            default = ""
        else:
            default = "required" if required else _default(node.get("default"), "default" in node)
        rows.append(f"| `{key}` | {_kind(node)} | {default} | {_cell(node['description'])} |")
    return rows


def _walk(
    props: dict[str, Any], prefix: str, required: set[str]
) -> Iterator[tuple[str, dict[str, Any], bool]]:
    """(key, schema, required) of every setting under props, a group before its keys."""
    for name, node in props.items():
        key = prefix + name
        yield key, node, name in required
        if "properties" in node:
            yield from _walk(node["properties"], f"{key}.", set(node.get("required", [])))
        item = node.get("items")
        if isinstance(item, dict) and "properties" in item:
            yield from _walk(item["properties"], f"{key}[].", set(item.get("required", [])))


def _sheet_rows(sheet: dict[str, Any]) -> list[str]:
    """The table of the dataset sheet's columns."""
    rows = ["| column | required | type and range | meaning |", "| --- | --- | --- | --- |"]
    required = set(sheet.get("required", []))
    for name, node in sheet["properties"].items():
        needed = "yes" if name in required else "no"
        rows.append(f"| `{name}` | {needed} | {_kind(node)} | {_cell(node['description'])} |")
    return rows


def _kind(node: dict[str, Any]) -> str:
    """The type and range column: "integer, at least 1 and at most 1024"."""
    if "properties" in node:
        return "group"
    kinds = [k for k in types_of(node) if k != "null"]
    words = {"boolean": "true or false", "array": "list", "object": "object"}
    kind = " or ".join(words.get(k, k) for k in kinds) or "any"
    item = node.get("items")
    if isinstance(item, dict) and item.get("type"):
        kind += " of " + ("objects (keys below)" if "properties" in item else f"{item['type']}s")
    if "null" in types_of(node):
        kind += " or null"
    limits = range_words(node, short=True)
    return _cell(f"{kind}, {limits}" if limits else kind)


def _default(value: Any, given: bool) -> str:
    """The default column: `2`, `"y"`, `null`, `[http, https]`."""
    if not given:
        return "none"
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return _cell(f"{len(value)} entries: " + ", ".join(str(v.get("name")) for v in value))
    if isinstance(value, bool) or value is None:
        shown = json.dumps(value)
    elif isinstance(value, (int, float)):
        shown = _number(value)
    elif isinstance(value, list):
        shown = "[" + ", ".join(_number(v) if not isinstance(v, str) else v for v in value) + "]"
    else:
        shown = value if value else '""'
    return f"`{_cell(shown)}`"


def _cell(text: str) -> str:
    """Text that stays inside one table cell, shown as written (no HTML tag in <name>)."""
    return " ".join(str(text).split()).replace("|", "\\|").replace("<", "&lt;")


def _read(path: Path) -> str:
    """A file of the source checkout, or one sentence saying it is not there."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
        raise PoolpipeError(f"cannot read {str(path)!r} ({why}); run this in a checkout") from None


def _rewrite(readme: Path, check: bool) -> int:
    """Rewrite the page's tables, or with check only say whether they are stale."""
    import yaml

    text = _read(readme)
    config, sheet = (yaml.safe_load(_read(readme.parent / name)) for name in SCHEMAS)
    fresh = render(text, config, sheet)
    if fresh == text:
        return 0
    if check:
        sys.stderr.write(f"{readme}: the key tables are stale; run {COMMAND}\n")
        return 1
    write_atomic(readme, fresh)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Rewrite (or with --check, only check) the key tables of config/README.md."""
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.split("\n\n")[0])
    parser.add_argument("readme", nargs="?", type=Path, default=README, help="the page")
    parser.add_argument("--check", action="store_true", help="fail if a table is stale")
    args = parser.parse_args(argv)
    return run_guarded(lambda: _rewrite(args.readme, args.check), prog=COMMAND)


if __name__ == "__main__":
    raise SystemExit(main())
