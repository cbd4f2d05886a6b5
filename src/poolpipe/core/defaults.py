"""The defaults and ranges of config/schema.yaml, the one place every default and every bound
lives: the workflow's validation applies them, and the library and the command line read them
from here.

The parsed schema is kept as JSON in __pycache__ beside it, stamped with the YAML file's size
and modification time, as Python keeps bytecode: a command then starts without importing and
running the YAML parser (about 25 ms of every `poolpipe` command). A stale, unreadable or
unwritable copy only means the YAML is parsed again.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path

from poolpipe import __version__
from poolpipe.core.outputs import write_atomic
from poolpipe.errors import PoolpipeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SCHEMA_FILE = "schema.yaml"
"""The schema inside this package: a link to config/schema.yaml, copied into built wheels."""

SCHEMA_CACHE = Path("__pycache__", "schema.json")
"""Where, beside SCHEMA_FILE, the parsed schema is kept."""

USER_AGENT = f"poolpipe/{__version__}"
"""The User-Agent a crawl sends when crawl.user_agent is null, the schema's default."""


@functools.cache
def load_schema() -> dict[str, Any]:
    """config/schema.yaml, parsed (cached: do not change it)."""
    return read_schema(Path(__file__).with_name(SCHEMA_FILE))


def read_schema(source: Path) -> dict[str, Any]:
    """A YAML schema, parsed: from its JSON copy when that is stamped with the file's size and
    modification time, else by the YAML parser, then kept for next time where it can be."""
    info = os.stat(source)
    stamp = [info.st_size, info.st_mtime_ns]
    cache = source.parent / SCHEMA_CACHE
    with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
        kept = json.loads(cache.read_bytes())
        if kept["stamp"] == stamp and isinstance(kept["schema"], dict):
            return kept["schema"]
    import yaml  # only on a miss: importing it is most of the cost the copy saves

    schema = yaml.load(source.read_bytes(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    with contextlib.suppress(OSError, TypeError, ValueError, PoolpipeError):
        write_atomic(cache, json.dumps({"stamp": stamp, "schema": schema}))
    return schema


@functools.cache
def _defaults() -> dict[str, Any]:
    return _filled({}, load_schema())


def schema_defaults(section: str) -> dict[str, Any]:
    """A fresh copy of what a config section (e.g. "crawl", "demo.train") is with no key set."""
    value: Any = _defaults()
    for key in section.split("."):
        if not isinstance(value, dict) or key not in value:
            raise KeyError(f"config/schema.yaml has no section {section!r}")
        value = value[key]
    if not isinstance(value, dict):
        raise KeyError(f"{section!r} in config/schema.yaml is a setting, not a section")
    return copy.deepcopy(value)


def _filled(instance: Any, schema: dict[str, Any]) -> Any:
    """The instance with the schema's defaults filled in where keys are missing, at every
    depth, items of lists included: what Snakemake's `validate` does to a config. A whole
    number written 4.0 where the schema takes an integer (as JSON Schema allows) becomes 4."""
    kinds = schema.get("type")
    if isinstance(instance, float) and instance.is_integer() and "integer" in (kinds or ()):
        return int(instance)
    if isinstance(instance, dict):
        for key, subschema in schema.get("properties", {}).items():
            if key not in instance and "default" in subschema:
                instance[key] = copy.deepcopy(subschema["default"])
            if key in instance:
                instance[key] = _filled(instance[key], subschema)
    elif isinstance(instance, list) and isinstance(schema.get("items"), dict):
        instance[:] = [_filled(item, schema["items"]) for item in instance]
    return instance


@dataclass(frozen=True)
class Bounds:
    """The range config/schema.yaml allows a number setting (its minimum, or exclusiveMinimum
    where `above` is set, and its maximum)."""

    low: float | None = None
    high: float | None = None
    above: bool = False

    def problem(self, value: float) -> str:
        """What is wrong with value, e.g. "must be at most 3600, not inf"; '' if nothing."""
        if isinstance(value, float) and value != value:  # nan
            return " ".join(filter(None, ["must be a number", self.text()])) + ", not nan"
        if self.low is not None and (value <= self.low if self.above else value < self.low):
            least = "more than" if self.above else "at least"
            return f"must be {least} {_number(self.low)}, not {_number(value)}"
        if self.high is not None and value > self.high:
            return f"must be at most {_number(self.high)}, not {_number(value)}"
        return ""

    def text(self, *, short: bool = False) -> str:
        """The range in words, e.g. "more than 0 and at most 3600", for help texts; short, as a
        table shows it, "1 to 1024" or "> 0 and ≤ 3600"."""
        if short and self.low is not None and self.high is not None and not self.above:
            return f"{_number(self.low)} to {_number(self.high)}"
        if short:
            sign = ">" if self.above else "≥"
            low = f"{sign} {_number(self.low)}" if self.low is not None else ""
            high = f"≤ {_number(self.high)}" if self.high is not None else ""
            return " and ".join(filter(None, [low, high]))
        words = []
        if self.low is not None:
            words.append(f"{'more than' if self.above else 'at least'} {_number(self.low)}")
        if self.high is not None:
            words.append(f"at most {_number(self.high)}")
        return " and ".join(words)


def _number(value: float) -> str:
    """A number as a sentence shows it: 1e9 as 1000000000, 0.5 as 0.5, inf as inf."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return str(value)


def schema_setting(setting: str) -> dict[str, Any]:
    """The schema of one setting, e.g. "crawl.timeouts.deadline"; "demo.train.coef[]" is the
    schema of that list's items."""
    node: Any = load_schema()
    for key in setting.split("."):
        name = key.removesuffix("[]")
        props = node.get("properties", {}) if isinstance(node, dict) else {}
        if name not in props or (name != key and not isinstance(props[name].get("items"), dict)):
            raise KeyError(f"config/schema.yaml has no setting {setting!r}")
        node = props[name]["items"] if name != key else props[name]
    return node


def schema_bounds(setting: str) -> Bounds:
    """The range of one number setting, e.g. "crawl.timeouts.deadline" or "demo.train.coef[]"."""
    return bounds_of(schema_setting(setting))


def bounds_of(node: dict[str, Any]) -> Bounds:
    """The range a setting's schema allows."""
    if "exclusiveMinimum" in node:
        return Bounds(node["exclusiveMinimum"], node.get("maximum"), above=True)
    return Bounds(node.get("minimum"), node.get("maximum"))


def types_of(node: dict[str, Any]) -> list[str]:
    """The JSON types a setting's schema allows, e.g. ["number", "null"]."""
    kind = node.get("type", [])
    return [kind] if isinstance(kind, str) else list(kind)


def range_words(node: dict[str, Any], *, short: bool = False) -> str:
    """The values a setting's schema allows, in words, e.g. "at least 1 and at most 1024",
    "one of none, warc", "1 to 512 characters matching ^[ -~]+$"; '' where the type says all.
    Short, numbers are ranged as a table shows them (Bounds.text)."""
    if "enum" in node:
        return "one of " + ", ".join(str(choice) for choice in node["enum"])
    kinds = types_of(node)
    if "integer" in kinds or "number" in kinds:
        return bounds_of(node).text(short=short)
    if "string" in kinds:
        words = [_size(node, "minLength", "maxLength", "character")]
        if "pattern" in node:
            words.append(f"matching {_shown(node['pattern'])}")
        return " ".join(filter(None, words))
    if "array" in kinds:
        item = node.get("items", {})
        words = [_size(node, "minItems", "maxItems", "item")]
        if "uniqueItems" in node:
            words.append("no repeats")
        if isinstance(item, dict) and range_words(item, short=short):
            words.append(f"each {range_words(item, short=short)}")
        return ", ".join(filter(None, words))
    return ""


def _size(node: dict[str, Any], least: str, most: str, unit: str) -> str:
    """A length's range in words: "1 character", "1 to 64 characters", "at most 4096 items"."""
    low, high = node.get(least, 0), node.get(most)
    if high is None:
        return f"at least {low} {unit}{'s' * (low != 1)}" if low else ""
    if low == high:
        return f"{low} {unit}{'s' * (low != 1)}"
    return f"{low} to {high} {unit}s" if low else f"at most {high} {unit}s"


def _shown(pattern: str) -> str:
    """A pattern in printable ASCII, other characters as \\u escapes."""
    return "".join(c if " " <= c <= "~" else f"\\u{ord(c):04x}" for c in pattern)
