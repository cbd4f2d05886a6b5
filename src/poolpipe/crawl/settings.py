"""The crawl stage's settings: one frozen record, built from the config's `crawl` section."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from poolpipe import __version__
from poolpipe.errors import PoolpipeError

SCHEMES = ("http", "https")
"""The only schemes the crawler can fetch; anything else (file:, ftp:, ...) is an error row."""


@dataclass(frozen=True)
class CrawlSettings:
    """How to crawl; the defaults are those of config/schema.yaml."""

    concurrency: int = 32
    per_host: int = 8
    per_host_delay: float = 0.0
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    deadline: float = 60.0
    retries: int = 2
    backoff: float = 0.5
    backoff_max: float = 30.0
    retry_statuses: tuple[int, ...] = (429, 500, 502, 503, 504)
    max_bytes: int = 10 << 20
    max_redirects: int = 10
    user_agent: str = f"poolpipe/{__version__}"
    robots: bool = True
    schemes: tuple[str, ...] = SCHEMES
    hosts: tuple[tuple[str, str], ...] = field(default=())

    def __post_init__(self) -> None:
        problems = [
            f"{name} must be at least {low}, not {getattr(self, name)}"
            for name, low in (
                ("concurrency", 1),
                ("per_host", 1),
                ("per_host_delay", 0),
                ("retries", 0),
                ("backoff", 0),
                ("backoff_max", 0),
                ("max_bytes", 0),
                ("max_redirects", 0),
            )
            if getattr(self, name) < low
        ]
        problems += [
            f"{name} must be more than 0, not {getattr(self, name)}"
            for name in ("connect_timeout", "read_timeout", "deadline")
            if not getattr(self, name) > 0
        ]
        problems += [f"scheme {s!r} cannot be crawled" for s in self.schemes if s not in SCHEMES]
        if problems:
            raise PoolpipeError(f"crawl settings: {problems[0]}")

    def with_hosts(self, hosts: dict[str, str]) -> CrawlSettings:
        """The same settings, sending these host names to these addresses (like curl --resolve)."""
        merged = dict(self.hosts) | {k.lower(): v for k, v in hosts.items()}
        return replace(self, hosts=tuple(sorted(merged.items())))

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the summary records the settings a crawl ran with)."""
        data = asdict(self)
        data["retry_statuses"] = list(self.retry_statuses)
        data["schemes"] = list(self.schemes)
        data["hosts"] = dict(self.hosts)
        return data

    @classmethod
    def from_config(cls, crawl: dict[str, Any]) -> CrawlSettings:
        """Settings from the config's `crawl` section (already validated, defaults filled)."""
        timeouts = crawl.get("timeouts", {})
        retries = crawl.get("retries", {})
        values: dict[str, Any] = {
            "concurrency": crawl.get("concurrency"),
            "per_host": crawl.get("per_host"),
            "per_host_delay": crawl.get("per_host_delay"),
            "connect_timeout": timeouts.get("connect"),
            "read_timeout": timeouts.get("read"),
            "deadline": timeouts.get("deadline"),
            "retries": retries.get("max"),
            "backoff": retries.get("backoff"),
            "backoff_max": retries.get("backoff_max"),
            "retry_statuses": _tuple(retries.get("statuses")),
            "max_bytes": crawl.get("max_bytes"),
            "max_redirects": crawl.get("max_redirects"),
            "user_agent": crawl.get("user_agent"),
            "robots": crawl.get("robots"),
            "schemes": _tuple(crawl.get("schemes")),
        }
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if v is not None and k in known})


def _tuple(value: list[Any] | None) -> tuple[Any, ...] | None:
    return None if value is None else tuple(value)
