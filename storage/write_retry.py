"""Retrying a write that PostgreSQL aborted only because another transaction ran beside it.

Bookings and moves run without the one-writer lock on PostgreSQL (``exclusive=False``): the
constraints decide who gets a slot. Two such transactions can still be aborted by the server
for reasons that say nothing about the data: a deadlock (``40P01``: each waits on a row the
other holds) or a serialization failure (``40001``). Run again, the same write either succeeds
or meets the winner's committed rows and gets the ordinary answer (slot taken). SQLite never
raises these (its writers queue on one lock), so there the wrapper is a plain call.

A booking that let the database pick among several chairs can also lose a race it could still
win: PostgreSQL bookings read the free chairs side by side, all pick the first, and all but one
are refused. The loser raises :class:`LostRace`; run again, it reads the winner's committed rows
and picks another chair, or finds none and answers with the result the race carried.
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
# Most runs after lost races: each loss means one more chair was taken by a committed booking.
RACES = 12

P = ParamSpec("P")
T = TypeVar("T")


class LostRace(Exception):
    """A constraint refused the chair this run picked, after another booking committed it.

    Args:
        result: What to answer if no run is left (the "slot taken" answer).
    """

    def __init__(self, result: object) -> None:
        super().__init__("lost a booking race")
        self.result = result


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is PostgreSQL aborting a transaction for a deadlock or serialization."""
    cause = exc.__cause__
    return isinstance(exc, sqlite3.OperationalError) and (
        getattr(cause, "sqlstate", None) in TRANSIENT_SQLSTATES
    )


def retry_transient(func: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Run ``func`` again when the server aborted its transaction or it lost a race.

    Up to :data:`ATTEMPTS` aborted runs and :data:`RACES` lost races; ``func`` must open its own
    transaction, so each run starts from committed data.
    """

    @functools.wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        aborted = races = 0
        while True:
            try:
                return await func(*args, **kwargs)
            except LostRace as lost:
                races += 1
                if races >= RACES:
                    return lost.result  # type: ignore[return-value]
            except sqlite3.OperationalError as exc:
                aborted += 1
                if aborted >= ATTEMPTS or not is_transient(exc):
                    raise
                # A short, growing pause lets the transaction that won finish committing.
                await asyncio.sleep(0.005 * aborted)

    return wrapper


def lost_race(result: T, *, chair_chosen: bool) -> T:
    """``result`` when staff chose the chair; else :class:`LostRace`, to try another chair."""
    if chair_chosen:
        return result
    raise LostRace(result)
