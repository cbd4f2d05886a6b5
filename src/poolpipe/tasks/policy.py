"""How a run treats a slow or failing task: its timeout, its retries and their backoff."""

from __future__ import annotations

from dataclasses import dataclass, fields

from poolpipe.core.backoff import Backoff
from poolpipe.core.defaults import schema_bounds, schema_defaults
from poolpipe.errors import PoolpipeError

_DEFAULTS = schema_defaults("tasks")

JITTER = 0.5
"""The share of a retry's wait that is drawn at random, so retries do not come in step."""


@dataclass(frozen=True, kw_only=True)
class TaskPolicy:
    """A task's timeout (None: none) and its retries after a transient failure."""

    timeout_s: float | None = _DEFAULTS["timeout_s"]
    retries: int = _DEFAULTS["retries"]
    backoff_s: float = _DEFAULTS["backoff_s"]
    backoff_max_s: float = _DEFAULTS["backoff_max_s"]

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if value is None and item.name == "timeout_s":
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise PoolpipeError(f"tasks setting {item.name} must be a number, not {value!r}")
            problem = schema_bounds(f"tasks.{item.name}").problem(value)
            if problem:
                raise PoolpipeError(f"tasks setting {item.name} {problem}")

    def backoff(self) -> Backoff:
        """The waits between retries."""
        return Backoff(base_s=self.backoff_s, max_s=self.backoff_max_s, jitter=JITTER)
