"""Starting what a test needs (a PostgreSQL cluster, network namespaces), or failing it clearly."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


def start_or_fail(start: Callable[[], T], unavailable: type[Exception]) -> T:
    """``start()``'s result; if it raises ``unavailable``, FAIL the test with its one line.

    Such tests are never skipped: a machine without the part must not pass them silently.
    """
    started: T | None = None
    try:
        started = start()
    except unavailable as missing:
        failure = str(missing)
    if started is None:
        # Outside the except block: the report shows the one-line message, not a chain.
        pytest.fail(failure, pytrace=False)
    return started
