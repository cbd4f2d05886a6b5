"""Every crawl test is bounded in time: SIGALRM fails it instead of letting it hang."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..helpers import time_guard

GUARD_S = 120
"""No crawl test may run longer than this; SIGALRM fails it instead of hanging."""


@pytest.fixture(autouse=True)
def _guard() -> Iterator[None]:
    with time_guard(GUARD_S):
        yield
