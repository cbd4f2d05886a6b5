"""The defaults of config/schema.yaml, the one place every default lives: the workflow's
validation fills them in, and the library and the command line read them from here."""

from __future__ import annotations

import copy
import functools
from importlib import resources
from typing import Any

import yaml

from poolpipe import __version__

SCHEMA_FILE = "schema.yaml"
"""The schema inside this package: a link to config/schema.yaml, copied into built wheels."""

USER_AGENT = f"poolpipe/{__version__}"
"""The User-Agent a crawl sends when crawl.user_agent is null, the schema's default."""

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.cache
def load_schema() -> dict[str, Any]:
    """config/schema.yaml, parsed (cached: do not change it)."""
    text = resources.files("poolpipe.core").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    return yaml.load(text, Loader=_LOADER)


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
    depth, items of lists included: what Snakemake's `validate` does to a config."""
    if isinstance(instance, dict):
        for key, subschema in schema.get("properties", {}).items():
            if key not in instance and "default" in subschema:
                instance[key] = copy.deepcopy(subschema["default"])
            if key in instance:
                instance[key] = _filled(instance[key], subschema)
    elif isinstance(instance, list) and isinstance(schema.get("items"), dict):
        instance[:] = [_filled(item, schema["items"]) for item in instance]
    return instance
