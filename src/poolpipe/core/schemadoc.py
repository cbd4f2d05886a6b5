"""The key lists of config/README.md, made from config/schema.yaml and
config/datasets.schema.yaml: a setting is described once, in its schema's `description`.

The page shows each key with its default, its type and range, and the first sentence of its
description (up to the first "; " or ". "), so a description puts what a reader needs most
first and the rest after. Each list sits between two marker lines, `<!-- keys: SECTION -->`
and `<!-- end keys -->`, where SECTION is a section of the config ("crawl", "demo"), "top" for
the top-level settings that are not sections, or "sheet" for the columns of the dataset sheet.
Rewrite the lists with

    python -m poolpipe.core.schemadoc            (or: make config-tables)

and check them with `--check`, which changes nothing and fails when a list is stale.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from poolpipe.core.defaults import _number, _shown, bounds_of, types_of
from poolpipe.core.outputs import write_atomic
from poolpipe.errors import PoolpipeError, run_guarded

README = Path("config", "README.md")
"""The page the key lists go into; the two schemas are read from its folder."""

SCHEMAS = ("schema.yaml", "datasets.schema.yaml")
"""The config's schema and the dataset sheet's, beside the page."""

COMMAND = "python -m poolpipe.core.schemadoc"
"""The command that rewrites the lists, as the stale check names it."""

_TO = "\N{EN DASH}"
"""Between the ends of a range, as a printed page writes "1 to 1024"."""

_BLOCK = re.compile(r"(<!-- keys: ([\w.]+) -->\n).*?(<!-- end keys -->)", re.DOTALL)


def render(text: str, schema: dict[str, Any], sheet: dict[str, Any]) -> str:
    """The page's text with every marked list of keys made again from the schemas."""

    def keys(match: re.Match[str]) -> str:
        section = match.group(2)
        rows = _sheet_rows(sheet) if section == "sheet" else _key_rows(schema, section)
        return match.group(1) + "\n" + "\n\n".join(rows) + "\n\n" + match.group(3)

    return _BLOCK.sub(keys, text)


def sections(text: str) -> list[str]:
    """The sections the page has a key list for, in page order."""
    return [match.group(2) for match in _BLOCK.finditer(text)]


def _key_rows(schema: dict[str, Any], section: str) -> list[str]:
    """The list of a config section: the section and every key below it, nested ones and
    list items too, one line each."""
    if section == "top":
        props = {k: v for k, v in schema["properties"].items() if "object" not in types_of(v)}
        found: Iterator[tuple[str, dict[str, Any], bool]] = _walk(props, "", set())
    else:
        *parents, name = section.split(".")
        node = schema
        for key in parents:
            node = node["properties"][key]
        found = _walk({name: node["properties"][name]}, "".join(f"{k}." for k in parents), set())
    rows = []
    for key, node, required in found:
        if node.get("deprecated"):
            continue
        if "properties" in node:
            rows.append(f"`{key}`: {first_sentence(node['description'])}")
            continue
        if required or "default" not in node:
            shown = f"`{key}` ({'required' if required else 'no default'})"
        else:
            shown = f"`{key}: {_default(node['default'])}`"
        kind = "" if types_of(node) == ["boolean"] else f" {_kind(node)}."  # its default says
        rows.append(f"{shown}:{kind} {first_sentence(node['description'])}")
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
    """The list of the dataset sheet's columns, one line each."""
    required = set(sheet.get("required", []))
    return [
        f"`{name}`{' (required)' if name in required else ''}: {_kind(node)}. "
        + first_sentence(node["description"])
        for name, node in sheet["properties"].items()
    ]


def first_sentence(text: str) -> str:
    """A description up to its first "; " or ". " outside brackets (the rest stays in the
    schema), on one line, starting with a capital and ending with a full stop."""
    line, depth = " ".join(str(text).split()), 0
    for at, char in enumerate(line):
        depth += (char in "([") - (char in ")]")
        if depth == 0 and line[at : at + 2] in ("; ", ". ") and line[at - 1 : at] != ".":
            line = line[:at]
            break
    line = line.rstrip(".")
    if re.fullmatch(r"[a-z]+(-[a-z]+)*", line.split(" ", 1)[0]):  # not bench_cpu, none:
        line = line[:1].upper() + line[1:]
    return _line(line + ".")


def _kind(node: dict[str, Any]) -> str:
    """A setting's type and range: "integer 1 to 1024" (with _TO for "to"), "number 0 to 600
    (not 0)", "one of none, warc", "list of at most 500 integers 100 to 599"."""
    kinds = [k for k in types_of(node) if k != "null"]
    item = node.get("items") if isinstance(node.get("items"), dict) else None
    if "enum" in node:
        kind = "one of " + ", ".join(str(choice) for choice in node["enum"])
    elif item and "enum" in item:
        size = _size(node, "minItems", "maxItems")
        kind = f"list of {size + 'of ' if size else ''}" + ", ".join(item["enum"])
    elif item:
        what = "objects (keys below)" if "properties" in item else f"{item['type']}s"
        kind = f"list of {_size(node, 'minItems', 'maxItems')}{what} {_limits(item)}"
    else:
        words = {"boolean": "true or false", "string": "text"}
        kind = " or ".join(words.get(k, k) for k in kinds) + " " + _limits(node)
        if kinds == ["string"] and "character" in kind:  # "1 to 64 characters" says text
            kind = _limits(node)
    if node.get("uniqueItems"):
        kind += ", no repeats"
    return _line(kind + " or null" * ("null" in types_of(node)))


def _limits(node: dict[str, Any]) -> str:
    """The values a number or text allows, short: "1 to 1024", "0 to 600 (not 0)", "1 to 64
    characters matching ^[a-z]+$"; '' for any."""
    kinds = types_of(node)
    if "integer" in kinds or "number" in kinds:
        bounds = bounds_of(node)
        above = f" (not {_number(bounds.low)})" if bounds.above else ""
        return f"{_number(bounds.low)}{_TO}{_number(bounds.high)}{above}"
    if "string" in kinds:
        size = _size(node, "minLength", "maxLength")
        words = [f"{size}character{'s' * (size != '1 ')}" if size else ""]
        if "pattern" in node:
            words.append(f"matching {_shown(node['pattern'])}")
        return " ".join(filter(None, words))
    return ""


def _size(node: dict[str, Any], least: str, most: str) -> str:
    """A length's range with a trailing space: "1 to 64 ", "at most 64 ", "" for any."""
    low, high = node.get(least, 0), node.get(most)
    if high is None:
        return f"at least {low} " if low else ""
    if low == high:
        return f"{low} "
    return f"{low}{_TO}{high} " if low else f"at most {high} "


def _default(value: Any) -> str:
    """A default as YAML writes it: `2`, `"y"`, `null`, `[http, https]`, `[render, ...]`."""
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return "[" + ", ".join(str(v.get("name")) for v in value) + "]"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return _number(value)
    if isinstance(value, list):
        return "[" + ", ".join(_number(v) if not isinstance(v, str) else v for v in value) + "]"
    return value if value else '""'


def _line(text: str) -> str:
    """Text on one line, shown as written (no HTML tag in <name>)."""
    return " ".join(str(text).split()).replace("<", "&lt;")


def _read(path: Path) -> str:
    """A file of the source checkout, or one sentence saying it is not there."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
        raise PoolpipeError(f"cannot read {str(path)!r} ({why}); run this in a checkout") from None


def _rewrite(readme: Path, check: bool) -> int:
    """Rewrite the page's key lists, or with check only say whether they are stale."""
    import yaml

    text = _read(readme)
    config, sheet = (yaml.safe_load(_read(readme.parent / name)) for name in SCHEMAS)
    fresh = render(text, config, sheet)
    if fresh == text:
        return 0
    if check:
        sys.stderr.write(f"{readme}: the key lists are stale; run {COMMAND}\n")
        return 1
    write_atomic(readme, fresh)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Rewrite (or with --check, only check) the key lists of config/README.md."""
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.split("\n\n")[0])
    parser.add_argument("readme", nargs="?", type=Path, default=README, help="the page")
    parser.add_argument("--check", action="store_true", help="fail if a list is stale")
    args = parser.parse_args(argv)
    return run_guarded(lambda: _rewrite(args.readme, args.check), prog=COMMAND)


if __name__ == "__main__":
    raise SystemExit(main())
