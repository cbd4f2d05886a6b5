"""The crawl stage's settings: one frozen record, built from the config's `crawl` section."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from poolpipe.core import USER_AGENT, schema_defaults
from poolpipe.core.defaults import Bounds, schema_bounds
from poolpipe.crawl.hostlimit import Throttle
from poolpipe.errors import PoolpipeError

STORES = ("none", "warc")
"""What the crawl keeps of the bodies: nothing but their hash, or a WARC file of the responses."""

USER_AGENT_CHARS = 512
"""The longest User-Agent sent (config/schema.yaml's maxLength)."""

SCHEMES = ("http", "https")
"""The only schemes the crawler can fetch; anything else (file:, ftp:, ...) is an error row."""


def _fields_of(crawl: dict[str, Any]) -> dict[str, Any]:
    """CrawlSettings' fields from a config `crawl` section; None where the section is silent."""
    timeouts = crawl.get("timeouts", {})
    retries = crawl.get("retries", {})
    auto = crawl.get("autothrottle", {})
    return {
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
        "previous": crawl.get("previous"),
        "store": crawl.get("store"),
        "crawl_delay_max": crawl.get("crawl_delay_max"),
        "internal_networks": _tuple(crawl.get("internal_networks")),
        "internal_redirects": crawl.get("internal_redirects"),
        "autothrottle": auto.get("enabled"),
        "autothrottle_target": auto.get("target_concurrency"),
        "autothrottle_max_delay": auto.get("max_delay"),
    }


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class Networks(tuple):
    """Parsed networks, hashed once: the guard's cache of verdicts hashes them for every
    address it checks, and a tuple's hash would hash each network again."""

    def __new__(cls, networks: Iterable[IPNetwork]) -> Networks:
        self = super().__new__(cls, networks)
        self._hash = tuple.__hash__(self)
        return self

    def __hash__(self) -> int:
        return self._hash


def _network(text: str) -> IPNetwork | None:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def user_agent_problem(agent: str) -> str:
    """Why agent cannot be sent as a User-Agent header ('' if it can)."""
    if not agent:
        return "user_agent must not be empty"
    if len(agent) > USER_AGENT_CHARS:
        return f"user_agent must be at most {USER_AGENT_CHARS} characters, not {len(agent)}"
    bad = next((ch for ch in agent if not (" " <= ch <= "~" or "\xa0" <= ch <= "\xff")), None)
    if bad is not None:
        return (
            f"user_agent must be printable Latin-1 text on one line, and {bad!r} is not "
            "(an HTTP header cannot carry it)"
        )
    if agent[0] in " \xa0":
        return "user_agent must not start with a space: its first word names it in robots.txt"
    return ""


def _tuple(value: list[Any] | None) -> tuple[Any, ...] | None:
    return None if value is None else tuple(value)


_SCHEMA = _fields_of(schema_defaults("crawl"))
"""The fields' defaults, from config/schema.yaml's `crawl` section."""

SETTINGS = {
    "concurrency": "crawl.concurrency",
    "per_host": "crawl.per_host",
    "per_host_delay": "crawl.per_host_delay",
    "connect_timeout": "crawl.timeouts.connect",
    "read_timeout": "crawl.timeouts.read",
    "deadline": "crawl.timeouts.deadline",
    "retries": "crawl.retries.max",
    "backoff": "crawl.retries.backoff",
    "backoff_max": "crawl.retries.backoff_max",
    "max_bytes": "crawl.max_bytes",
    "max_redirects": "crawl.max_redirects",
    "crawl_delay_max": "crawl.crawl_delay_max",
    "autothrottle_target": "crawl.autothrottle.target_concurrency",
    "autothrottle_max_delay": "crawl.autothrottle.max_delay",
}
"""The number fields and the config settings they come from, whose range they keep."""

BOUNDS: dict[str, Bounds] = {name: schema_bounds(path) for name, path in SETTINGS.items()}
"""Each number field's range, from config/schema.yaml: every one has a finite maximum."""


@dataclass(frozen=True)
class CrawlSettings:
    """How to crawl; the defaults are those of config/schema.yaml."""

    concurrency: int = _SCHEMA["concurrency"]
    per_host: int = _SCHEMA["per_host"]
    per_host_delay: float = _SCHEMA["per_host_delay"]
    connect_timeout: float = _SCHEMA["connect_timeout"]
    read_timeout: float = _SCHEMA["read_timeout"]
    deadline: float = _SCHEMA["deadline"]
    retries: int = _SCHEMA["retries"]
    backoff: float = _SCHEMA["backoff"]
    backoff_max: float = _SCHEMA["backoff_max"]
    retry_statuses: tuple[int, ...] = _SCHEMA["retry_statuses"]
    max_bytes: int = _SCHEMA["max_bytes"]
    max_redirects: int = _SCHEMA["max_redirects"]
    user_agent: str = _SCHEMA["user_agent"] or USER_AGENT
    robots: bool = _SCHEMA["robots"]
    schemes: tuple[str, ...] = _SCHEMA["schemes"]
    previous: str = _SCHEMA["previous"] or ""
    store: str = _SCHEMA["store"]
    crawl_delay_max: float = _SCHEMA["crawl_delay_max"]
    internal_networks: tuple[str, ...] = _SCHEMA["internal_networks"]
    internal_redirects: bool = _SCHEMA["internal_redirects"]
    autothrottle: bool = _SCHEMA["autothrottle"]
    autothrottle_target: float = _SCHEMA["autothrottle_target"]
    autothrottle_max_delay: float = _SCHEMA["autothrottle_max_delay"]
    hosts: tuple[tuple[str, str], ...] = field(default=())

    def __post_init__(self) -> None:
        problems = [
            f"{name} {problem}"
            for name, bounds in BOUNDS.items()
            if (problem := bounds.problem(getattr(self, name)))
        ]
        problems += [f"scheme {s!r} cannot be crawled" for s in self.schemes if s not in SCHEMES]
        problems += [p for p in (user_agent_problem(self.user_agent),) if p]
        problems += [
            f"internal_networks: {net!r} is not an address range (CIDR)"
            for net in self.internal_networks
            if _network(net) is None
        ]
        if self.store not in STORES:
            problems.append(f"store {self.store!r} is not one of {', '.join(STORES)}")
        if problems:
            raise PoolpipeError(f"crawl settings: {problems[0]}")

    def networks(self) -> Networks:
        """internal_networks, parsed."""
        return Networks(n for n in map(_network, self.internal_networks) if n is not None)

    def throttle(self) -> Throttle:
        """The bounds of the per-host delay's robots.txt and adaptive parts."""
        return Throttle(
            crawl_delay_max=self.crawl_delay_max if self.robots else 0.0,
            autothrottle=self.autothrottle,
            target_concurrency=self.autothrottle_target,
            max_delay=self.autothrottle_max_delay,
        )

    def with_hosts(self, hosts: dict[str, str]) -> CrawlSettings:
        """The same settings, sending these host names to these addresses (like curl --resolve)."""
        merged = dict(self.hosts) | {k.lower(): v for k, v in hosts.items()}
        return replace(self, hosts=tuple(sorted(merged.items())))

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the summary records the settings a crawl ran with)."""
        data = asdict(self)
        data["retry_statuses"] = list(self.retry_statuses)
        data["schemes"] = list(self.schemes)
        data["internal_networks"] = list(self.internal_networks)
        data["hosts"] = dict(self.hosts)
        return data

    @classmethod
    def from_config(cls, crawl: dict[str, Any]) -> CrawlSettings:
        """Settings from a config `crawl` section; a key it lacks or sets to null takes the
        default (the schema's; for the user agent, the one built from the version)."""
        known = {f.name for f in fields(cls)}
        values = _fields_of(crawl).items()
        return cls(**{k: v for k, v in values if v is not None and k in known})
