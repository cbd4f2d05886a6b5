"""The workflow's config checked against config/schema.yaml: defaults filled in, and the first
mistake as one sentence (the key path, what is wrong, the nearest valid key or value), never
the schema itself."""

from __future__ import annotations

import difflib
import math
import re
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError, best_match

from poolpipe.core.defaults import _filled, bounds_of
from poolpipe.errors import PoolpipeError


def _finite_number(checker: Any, value: Any) -> bool:
    """JSON Schema's number, less NaN and the infinities (YAML's .nan and .inf), which pass
    every minimum and maximum check a NaN is compared with."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


_Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("number", _finite_number),
)


def check_config(config: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Fill in the schema's defaults and return the config, or raise one sentence."""
    validator = _Validator(schema)
    error = best_match(validator.iter_errors(config))
    if error is not None:
        raise PoolpipeError(config_problem(error))
    nul = _nul_key(config, [])
    if nul is not None:
        raise PoolpipeError(
            f"config key {nul!r} holds a NUL character, which no path or command can"
        )
    return _filled(config, schema)


def _nul_key(value: Any, path: list[Any]) -> str | None:
    """The key path of the first string holding a NUL character, in a key or a value."""
    if isinstance(value, str):
        return _key(path) if "\0" in value else None
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, item in items:
        if isinstance(key, str) and "\0" in key:
            return _key([*path, key])
        found = _nul_key(item, [*path, key])
        if found is not None:
            return found
    return None


def _key(path: list[Any]) -> str:
    """A key path as a user writes it: sum.chunks, demo.train.coef[2]."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _nearest(word: str, choices: list[str], prefix: list[Any]) -> str:
    """'; did you mean X?' for the key nearest to word, or the keys when few and none is near."""
    near = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)
    if near:
        return f"; did you mean {_key([*prefix, near[0]])!r}?"
    if len(choices) <= 8:
        return f"; the keys here are {', '.join(sorted(choices))}"
    return ""


def config_problem(error: ValidationError) -> str:
    """One sentence for a schema error: the key path, what is wrong, what would be valid."""
    path = list(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    where = f"config key {_key(path)!r}" if path else "the config"
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = list(schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in known)
        name = extra[0] if extra else "?"
        near = _nearest(str(name), known, path)
        return f"config key {_key([*path, name])!r} is not a setting{near}"
    value = error.instance
    shown = repr(value) if not isinstance(value, (dict, list)) or len(repr(value)) < 60 else "it"
    if isinstance(value, int) and len(shown) > 40:  # YAML reads 400 digits as one int
        shown = f"a whole number of {len(str(abs(value)))} digits"
    if error.validator == "enum":
        choices = [str(c) for c in error.validator_value]
        near = difflib.get_close_matches(str(value), choices, n=1, cutoff=0.5)
        hint = f"; did you mean {near[0]!r}?" if near else f"; one of {', '.join(choices)}"
        return f"{where}: {shown} is not a valid value{hint}"
    if error.validator == "type":
        wanted = error.validator_value
        wanted = " or ".join(wanted) if isinstance(wanted, list) else wanted
        if isinstance(value, float) and not math.isfinite(value):
            return f"{where}: {shown} is not a finite number{_range(schema)}"
        text = f"{where}: {shown} is not of type {wanted}{_range(schema)}"
        if isinstance(value, str) and "string" not in str(wanted):
            text += _text_hint(value, str(wanted), nested=len(path) > 1)
        return text
    if error.validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return f"{where}: {shown} is out of range{_range(schema)}"
    if error.validator == "pattern":
        return f"{where}: {shown} holds characters this setting does not allow"
    if error.validator == "required":
        return f"{where}: {error.message}"
    message = error.message if len(error.message) < 200 else error.message[:200] + "..."
    return f"{where}: {message}"


def _text_hint(value: str, wanted: str, *, nested: bool) -> str:
    """How to write a value that arrived as text where the setting takes another type."""
    if "boolean" in wanted and value.strip().lower() in ("true", "false", "yes", "no"):
        if nested:  # 'inputs={hash_content: True}' gives the text 'True'
            return "; --config gives nested values as text, so set nested keys in a --configfile"
        return "; write True or False (Snakemake's --config reads only those as booleans)"
    if "array" in wanted:
        return f"; write a list: [{value}]"
    if re.fullmatch(r"\s*[+-]?\d+[eE][+-]?\d+\s*", value):
        return f"; YAML reads {value.strip()} as text: write it with a decimal point (1.0e+9)"
    if nested:
        return "; --config gives nested values as text, so set nested keys in a --configfile"
    return ""


def _range(schema: dict[str, Any]) -> str:
    """' (at least 1 and at most 1024)' for a number setting with bounds, else ''."""
    text = bounds_of(schema).text()
    return f" ({text})" if text else ""
