"""Every supervisor test may ask that it leave no process behind."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..helpers import children, wait_until


@pytest.fixture
def no_leftovers() -> Iterator[None]:
    """After the test, this process has no child (and no zombie) it did not have before."""
    before = children()
    yield
    assert wait_until(lambda: not (children() - before), timeout=10), children()
