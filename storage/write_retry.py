"""Retrying a write that PostgreSQL aborted only because another transaction ran beside it.

Bookings and moves run without the one-writer lock on PostgreSQL (``exclusive=False``): the
constraints decide who gets a slot. Two such transactions can still be aborted by the server
for reasons that say nothing about the data: a deadlock (``40P01``: each waits on a row the
other holds) or a serialization failure (``40001``). Run again, the same write either succeeds
or meets the winner's committed rows and gets the ordinary answer (slot taken). SQLite never
raises these (its writers queue on one lock), so there the wrapper is a plain call.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

# SQLSTATEs of a transaction the server aborted to let a concurrent one through.
TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})
# Most runs of one write; each aborted run rolled back completely, so a retry is safe.
ATTEMPTS = 5

P = ParamSpec("P")
T = TypeVar("T")


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is PostgreSQL aborting a transaction for a deadlock or serialization."""
    cause = exc.__cause__
    return isinstance(exc, sqlite3.OperationalError) and (
        getattr(cause, "sqlstate", None) in TRANSIENT_SQLSTATES
    )


def retry_transient(func: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Run ``func`` again (up to :data:`ATTEMPTS` times) when the server aborted its transaction.

    ``func`` must open its own transaction, so each run starts from committed data.
    """

    @functools.wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return await func(*args, **kwargs)
            except sqlite3.OperationalError as exc:
                if attempt == ATTEMPTS or not is_transient(exc):
                    raise
            # A short, growing pause lets the transaction that won finish committing.
            await asyncio.sleep(0.005 * attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    return wrapper
