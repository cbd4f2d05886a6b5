"""Worker loops and the supervisor's settings, each checked by config/schema.yaml's supervise
section when it is made, from the command line, the config or code alike.

The checks are the schema's own rules (type, minimum, maximum, pattern), read from the
schema, so they are written once; a number must also be finite, which JSON Schema's
`number` does not say, and a pattern must match the whole name.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from poolpipe.core.defaults import load_schema, schema_defaults
from poolpipe.errors import PoolpipeError

SPEC = "NAME[:INTERVAL_S[:TICKS[:FAIL_AT_TICK]]]"
"""How the command line gives a worker loop."""


_DEFAULTS = schema_defaults("supervise")


def schema_section() -> dict[str, Any]:
    """The supervise section of config/schema.yaml."""
    return load_schema()["properties"]["supervise"]["properties"]


def _number_problem(value: float, rules: Mapping[str, Any]) -> str | None:
    if not math.isfinite(value):
        return "must be a finite number"
    if "minimum" in rules and not value >= rules["minimum"]:
        return f"must be at least {rules['minimum']}"
    if "exclusiveMinimum" in rules and not value > rules["exclusiveMinimum"]:
        return f"must be above {rules['exclusiveMinimum']}"
    if "maximum" in rules and not value <= rules["maximum"]:
        return f"must be at most {rules['maximum']}"
    if "exclusiveMaximum" in rules and not value < rules["exclusiveMaximum"]:
        return f"must be below {rules['exclusiveMaximum']}"
    return None


def schema_problem(value: object, rules: Mapping[str, Any]) -> str | None:
    """Why value breaks a schema property's rules (as the end of a sentence), or None."""
    kinds = rules.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    if value is None:
        return None if "null" in kinds else "must be given"
    if isinstance(value, bool):
        return None if "boolean" in kinds else "must not be true or false"
    if isinstance(value, str):
        if "string" not in kinds:
            return "must not be text"
        if len(value) < rules.get("minLength", 0):
            return (
                "must not be empty"
                if rules["minLength"] == 1
                else f"must have at least {rules['minLength']} characters"
            )
        if len(value) > rules.get("maxLength", len(value)):
            return f"must have at most {rules['maxLength']} characters"
        pattern = rules.get("pattern")
        if pattern is not None and re.fullmatch(pattern, value) is None:
            return f"must match {pattern}"
        return None
    if isinstance(value, int) and ("integer" in kinds or "number" in kinds):
        return _number_problem(value, rules)
    if isinstance(value, float) and "number" in kinds:
        return _number_problem(value, rules)
    return f"must be of type {' or '.join(kinds)}"


@dataclass(frozen=True, kw_only=True)
class Loop:
    """A named worker loop: one tick every interval_s, at most ticks of them (None: no limit)."""

    name: str
    interval_s: float
    ticks: int | None = None
    fail_at_tick: int | None = None
    """The tick at which the loop's first run exits with code 1, to show a restart."""
    stall_at_tick: int | None = None
    """The tick at which the loop's first run stops ticking but still sends heartbeats."""

    def __post_init__(self) -> None:
        rules = schema_section()["workers"]["items"]["properties"]
        for item in fields(self):
            value = getattr(self, item.name)
            problem = schema_problem(value, rules[item.name])
            if problem:
                shown = "" if item.name == "name" else f", not {value!r}"
                raise PoolpipeError(f"worker loop {self.name!r}: {item.name} {problem}{shown}")
        for item in ("fail_at_tick", "stall_at_tick"):
            at = getattr(self, item)
            if at is not None and self.ticks is not None and at > self.ticks:
                raise PoolpipeError(
                    f"worker loop {self.name!r}: {item} {at} is past its last tick, {self.ticks}"
                )


RECIPE_LOOPS = tuple(Loop(name=name, interval_s=1.0) for name in ("render", "logic", "network"))
"""The article's recipe: its three game loops, a tick a second, until stopped."""


@dataclass(frozen=True, kw_only=True)
class SupervisorSettings:
    """How long to run (None: until a signal), and what to do with a loop that dies or hangs."""

    duration_s: float | None = None
    restart: bool = False
    max_restarts: int = 3
    heartbeat_timeout_s: float = 5.0
    stop_timeout_s: float = 5.0
    stall_timeout_s: float = _DEFAULTS["stall_timeout_s"]
    restart_backoff_s: float = _DEFAULTS["restart_backoff_s"]
    restart_backoff_max_s: float = _DEFAULTS["restart_backoff_max_s"]
    restart_jitter: float = _DEFAULTS["restart_jitter"]
    restart_window_s: float = _DEFAULTS["restart_window_s"]

    def __post_init__(self) -> None:
        rules = schema_section()
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name == "duration_s" and value is None:
                continue
            problem = schema_problem(value, rules[item.name])
            if problem:
                raise PoolpipeError(f"supervise setting {item.name} {problem}, not {value!r}")


def parse_loop(spec: str) -> Loop:
    """A loop from NAME[:INTERVAL_S[:TICKS[:FAIL_AT_TICK]]], as the command line gives it."""
    name, *rest = spec.split(":")
    if not name or len(rest) > 3:
        raise PoolpipeError(f"{spec!r} is not {SPEC}")
    try:
        interval = float(rest[0]) if rest and rest[0] else 1.0
        ticks = int(rest[1]) if len(rest) > 1 and rest[1] else None
        fail = int(rest[2]) if len(rest) > 2 and rest[2] else None
    except ValueError:
        raise PoolpipeError(f"{spec!r} is not {SPEC}") from None
    return Loop(name=name, interval_s=interval, ticks=ticks, fail_at_tick=fail)


def loops_from_config(items: Sequence[dict[str, Any]]) -> list[Loop]:
    """Loops from the config's supervise.workers list."""
    return [
        Loop(
            name=i["name"],
            interval_s=i["interval_s"],
            ticks=i.get("ticks"),
            fail_at_tick=i.get("fail_at_tick"),
            stall_at_tick=i.get("stall_at_tick"),
        )
        for i in items
    ]
