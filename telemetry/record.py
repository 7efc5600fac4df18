"""Recording: one function per event, called where the event happens, never failing.

Each function is cheap (a label look-up and an add) and is called once per call, tool call,
caller turn, reconnect or attempt, never per audio frame. A recording that fails (the shared
folder removed under a running process, a value prometheus-client refuses) is logged once per
function and otherwise ignored: metrics never end or slow a call.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import ParamSpec

from loguru import logger

import telemetry.metrics as _metrics
from telemetry.vocabulary import (
    ATTEMPT_OUTCOMES,
    CALL_OUTCOMES,
    DIRECTIONS,
    SMS_WEBHOOK_RESULTS,
    SMS_WEBHOOKS,
    ErrorKind,
    Reconnect,
    ToolResultKind,
    bounded,
    sip_label,
    tool_label,
)

P = ParamSpec("P")
_warned: set[str] = set()


def _safe(record: Callable[P, None]) -> Callable[P, None]:
    """``record``, with any failure logged once and swallowed."""

    @functools.wraps(record)
    def safe(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            record(*args, **kwargs)
        except Exception as exc:  # metrics must never take a call down
            if record.__name__ not in _warned:
                _warned.add(record.__name__)
                logger.warning("recording {} failed: {}", record.__name__, type(exc).__name__)

    return safe


def _direction(direction: str) -> str:
    return bounded(direction, DIRECTIONS)


@_safe
def call_refused(direction: str) -> None:
    """A call was refused before it was placed (do-not-call, the hourly cap)."""
    m = _metrics.current()
    if m is not None:
        m.calls.labels(_direction(direction), "refused").inc()


@_safe
def call_ended(
    direction: str,
    outcome: str,
    *,
    answered: bool,
    duration_s: float | None,
    bookings: int,
    revenue_lek: int,
) -> None:
    """A call ended and was recorded.

    Args:
        direction: ``outbound`` or ``inbound``.
        outcome: Its ``CallOutcome`` value.
        answered: The callee picked up.
        duration_s: Its length (None when unknown).
        bookings: Appointments booked in it.
        revenue_lek: Their price in whole lek.
    """
    m = _metrics.current()
    if m is None:
        return
    way = _direction(direction)
    m.calls.labels(way, bounded(outcome, CALL_OUTCOMES)).inc()
    if duration_s is not None:
        m.call_duration.labels(way, "true" if answered else "false").observe(max(0.0, duration_s))
    if bookings > 0:
        m.bookings.labels(way).inc(bookings)
    if revenue_lek > 0:
        m.revenue.labels(way).inc(revenue_lek)


@contextmanager
def active_call(direction: str) -> Iterator[None]:
    """Count a call as active for the duration of the block."""
    gauge = None
    try:
        m = _metrics.current()
        if m is not None:
            gauge = m.active_calls.labels(_direction(direction))
            gauge.inc()
    except Exception as exc:  # as _safe: never fail the call
        gauge = None
        logger.warning("recording active_call failed: {}", type(exc).__name__)
    try:
        yield
    finally:
        if gauge is not None:
            _dec(gauge)


@_safe
def _dec(gauge: object) -> None:
    gauge.dec()  # type: ignore[attr-defined]


@_safe
def tool_called(tool: str, result: ToolResultKind, seconds: float | None) -> None:
    """One tool call ended.

    Args:
        tool: A registry tool name, or ``unknown`` (the caller maps names it does not know).
        result: How it ended.
        seconds: How long it ran; None for a call refused before it ran.
    """
    m = _metrics.current()
    if m is None:
        return
    name = tool_label(tool)
    m.tool_calls.labels(name, bounded(result, {kind.value for kind in ToolResultKind})).inc()
    if seconds is not None:
        m.tool_duration.labels(name).observe(max(0.0, seconds))


@_safe
def tools_offered(names: Iterable[str]) -> None:
    """The tools a call offers: their series start at 0 (the first call of each then counts).

    Args:
        names: Registry tool names.
    """
    m = _metrics.current()
    if m is not None:
        m.know_tools(tool_label(name) for name in names)


@_safe
def response_latency(seconds: float) -> None:
    """One reply's latency: the caller's end of speech to Elo's first audio."""
    m = _metrics.current()
    if m is not None:
        m.response_latency.observe(max(0.0, seconds))


@_safe
def pipeline_delay(seconds: float) -> None:
    """One reply's pipeline-added latency: its first model audio received to Elo audible."""
    m = _metrics.current()
    if m is not None:
        m.pipeline_delay.observe(max(0.0, seconds))


@_safe
def gemini_reconnect(reason: Reconnect) -> None:
    """The Gemini Live connection is opened again, for ``reason``."""
    m = _metrics.current()
    if m is not None:
        m.gemini_reconnects.labels(bounded(reason, {r.value for r in Reconnect})).inc()


@_safe
def dial_attempt(outcome: str, sip_status: str | None, *, fault: bool) -> None:
    """A campaign attempt was recorded.

    Args:
        outcome: Its ``AttemptOutcome``.
        sip_status: Its ``sip_status`` text (see :func:`telemetry.vocabulary.sip_label`).
        fault: The system, not the patient's phone, failed it.
    """
    m = _metrics.current()
    if m is not None:
        m.dial_attempts.labels(
            bounded(outcome, ATTEMPT_OUTCOMES), sip_label(sip_status), "true" if fault else "false"
        ).inc()


@_safe
def error(kind: ErrorKind) -> None:
    """An error of ``kind`` happened."""
    m = _metrics.current()
    if m is not None:
        m.errors.labels(bounded(kind, {k.value for k in ErrorKind})).inc()


@_safe
def sms_webhook(kind: str, result: str) -> None:
    """A Twilio SMS webhook was answered.

    Args:
        kind: ``inbound`` (a patient's message) or ``status`` (a delivery report).
        result: ``accepted`` (signed by the account) or ``forged`` (refused).
    """
    m = _metrics.current()
    if m is not None:
        m.sms_webhooks.labels(
            bounded(kind, SMS_WEBHOOKS), bounded(result, SMS_WEBHOOK_RESULTS)
        ).inc()
