"""The kinds of error a crawl row can report: the `error` column of pages.tsv.

An empty `error` means the URL was fetched and its status is the answer (a 404 is a status,
not an error). Every other row names one of these kinds, and `detail` says more.
"""

from __future__ import annotations

import enum


class ErrorKind(enum.StrEnum):
    """Why a URL line has no status (or no usable one); each value is its text in pages.tsv."""

    INVALID_URL = "invalid_url"
    """The line is not a URL: no scheme or host, a bad port, not UTF-8, or too long."""
    SCHEME = "scheme"
    """A scheme that is not crawled (file:, ftp:, mailto:, ...), at first or by a redirect."""
    DUPLICATE = "duplicate"
    """The same URL as an earlier line, which is the one fetched."""
    DNS = "dns"
    """The host name is unknown (names under .invalid always are)."""
    DNS_TEMPORARY = "dns_temporary"
    """The name lookup failed for now (EAI_AGAIN); retried."""
    REFUSED = "refused"
    """The host refused the connection; retried."""
    CONNECT_TIMEOUT = "connect_timeout"
    """No connection within the connect timeout; retried."""
    CONNECTION = "connection"
    """The connection failed or was reset; retried."""
    READ_TIMEOUT = "read_timeout"
    """No data within the read timeout."""
    TLS = "tls"
    """The TLS handshake or certificate check failed."""
    PROTOCOL = "protocol"
    """The server's answer is not valid HTTP, or its body cannot be decoded."""
    BAD_RESPONSE = "bad_response"
    """A header the answer needs is malformed: Content-Lengths that disagree, a redirect whose
    Location is not a URL. (A malformed header the page does not need is ignored.)"""
    DEADLINE = "deadline"
    """The attempt took longer than the deadline and was cut off."""
    TOO_LARGE = "too_large"
    """The body is over the size cap."""
    ROBOTS = "robots"
    """robots.txt forbids the URL (or could not be read with a 5xx, which forbids it all)."""
    REDIRECT_LOOP = "redirect_loop"
    """A redirect leads back to a URL already visited."""
    TOO_MANY_REDIRECTS = "too_many_redirects"
    """More redirects than max_redirects."""
    INTERNAL_REDIRECT = "internal_redirect"
    """A redirect from a public address leads into the internal networks (loopback, private,
    link-local: crawl.internal_networks), refused unless crawl.internal_redirects allows it."""
    INTERNAL = "internal"
    """An unexpected exception while fetching: a bug, reported as a row rather than a crash;
    nothing a server sends leads here."""


RETRYABLE_ERRORS = frozenset(
    {
        ErrorKind.REFUSED,
        ErrorKind.CONNECT_TIMEOUT,
        ErrorKind.CONNECTION,
        ErrorKind.DNS_TEMPORARY,
    }
)
"""Error kinds that are retried (with the statuses in CrawlSettings.retry_statuses)."""
