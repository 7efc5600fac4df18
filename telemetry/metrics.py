"""Every metric Elo exports, defined once (names, help, labels, buckets).

Recorded metrics live in :class:`Metrics`, made once per process on first use
(:func:`current`). Scrape-time gauges, read from the database and the readiness checks when
``/metrics`` is asked, are built by :func:`scrape_families`. Labels come from
:mod:`telemetry.vocabulary` only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from loguru import logger
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    values,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from telemetry.vocabulary import (
    CALL_OUTCOMES,
    DIAL_SERIES,
    DIRECTIONS,
    SMS_WEBHOOK_RESULTS,
    SMS_WEBHOOKS,
    ErrorKind,
    Reconnect,
    ToolResultKind,
)

# No "_created" series: the shared files of multi-process mode have none, and a process's own
# export should read the same (half the lines, nothing a dashboard uses).
disable_created_metrics()

# Seconds. A call lasts from seconds (no answer) to the length limit (15 minutes by default).
CALL_BUCKETS = (5.0, 15.0, 30.0, 60.0, 120.0, 180.0, 300.0, 600.0, 900.0, 1800.0)
# Most tools answer in milliseconds; the slowest (a web search) is capped at 15-60 s.
TOOL_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0)
# The end of the caller's turn (0.4 s of silence) plus the model's answer: about 1 s.
# What Elo adds after the model's audio arrives: the output's chunking and a few hops, tens of ms.
PIPELINE_BUCKETS = (0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0)
LATENCY_BUCKETS = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 7.5, 10.0)


class Metrics:
    """The metrics recorded by a process (see :mod:`telemetry.record` for when).

    Args:
        registry: Where they are registered. In multi-process mode the values are written to
            the shared folder whatever the registry; the serving process reads them from there.
        zero: Start the fixed series at 0 (see :meth:`_zero`). The exporting process does; a
            worker of ``elo serve`` does not: its files then hold only what it recorded, which
            keeps a scrape (reading every process's files) short.
    """

    def __init__(self, registry: CollectorRegistry, *, zero: bool = True) -> None:
        self.calls = Counter(
            "elo_calls",
            "Calls ended, by direction and outcome (refused: never placed, e.g. do-not-call).",
            ["direction", "outcome"],
            registry=registry,
        )
        self.call_duration = Histogram(
            "elo_call_duration_seconds",
            "Length of ended calls in seconds (outbound calls include the ringing).",
            ["direction", "answered"],
            buckets=CALL_BUCKETS,
            registry=registry,
        )
        self.active_calls = Gauge(
            "elo_active_calls",
            "Calls running now, summed over the live processes.",
            ["direction"],
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.bookings = Counter(
            "elo_bookings",
            "Appointments booked in calls.",
            ["direction"],
            registry=registry,
        )
        self.revenue = Counter(
            "elo_revenue_booked_lek",
            "Price of the appointments booked in calls, in whole lek (the clinic's prices).",
            ["direction"],
            registry=registry,
        )
        self.tool_calls = Counter(
            "elo_tool_calls",
            "Tool calls the model made, by tool and result"
            " (ok, input_error, refused, error, timeout, cancelled).",
            ["tool", "result"],
            registry=registry,
        )
        self.tool_duration = Histogram(
            "elo_tool_duration_seconds",
            "How long tool calls ran, in seconds (refused calls not included).",
            ["tool"],
            buckets=TOOL_BUCKETS,
            registry=registry,
        )
        self.response_latency = Histogram(
            "elo_model_response_latency_seconds",
            "From the caller's end of speech to Elo's first audio of the reply, in seconds.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.pipeline_delay = Histogram(
            "elo_pipeline_added_latency_seconds",
            "From a reply's first model audio reaching Elo to Elo audible (Elo's own share of"
            " the response latency), in seconds.",
            buckets=PIPELINE_BUCKETS,
            registry=registry,
        )
        self.gemini_reconnects = Counter(
            "elo_gemini_reconnects",
            "Gemini Live connections opened again, by reason.",
            ["reason"],
            registry=registry,
        )
        self.dial_attempts = Counter(
            "elo_dial_attempts",
            "Campaign call attempts ended, by outcome, SIP status (code or class) and whether"
            " the system failed (fault: trunk, credentials, LiveKit).",
            ["outcome", "sip_status", "fault"],
            registry=registry,
        )
        self.errors = Counter(
            "elo_errors",
            "Errors by kind (pipeline, call_crashed, model_connect, tool, dial_fault, storage).",
            ["kind"],
            registry=registry,
        )
        self.sms_webhooks = Counter(
            "elo_sms_webhooks",
            "Twilio SMS webhooks received, by kind (inbound, status) and result (accepted;"
            " forged: a missing or wrong X-Twilio-Signature, refused with 401).",
            ["kind", "result"],
            registry=registry,
        )
        self.zeroes = zero
        self.known_tools: set[str] = set()
        if zero:
            self._zero()

    def _zero(self) -> None:
        """Start the fixed series at 0, so rates and alerts see their first increase."""
        for direction in DIRECTIONS:
            for outcome in CALL_OUTCOMES:
                self.calls.labels(direction, outcome)
            self.active_calls.labels(direction)
            self.bookings.labels(direction)
            self.revenue.labels(direction)
        for reason in Reconnect:
            self.gemini_reconnects.labels(reason.value)
        for kind in ErrorKind:
            self.errors.labels(kind.value)
        for outcome, sip_status, fault in DIAL_SERIES:
            self.dial_attempts.labels(outcome, sip_status, fault)
        for kind in SMS_WEBHOOKS:
            for result in SMS_WEBHOOK_RESULTS:
                self.sms_webhooks.labels(kind, result)

    def know_tools(self, names: Iterable[str]) -> None:
        """Start each tool's series at 0 (once per tool and process).

        Args:
            names: Tool labels (registry names, already checked).
        """
        for name in names:
            if not self.zeroes or name in self.known_tools:
                continue
            self.known_tools.add(name)
            for result in ToolResultKind:
                self.tool_calls.labels(name, result.value)
            self.tool_duration.labels(name)


@dataclass
class _State:
    registry: CollectorRegistry | None = None
    metrics: Metrics | None = None
    broken: bool = False
    directory: Path | None = None


_state = _State()


def current() -> Metrics | None:
    """This process's metrics, made on first use; None when they cannot be made.

    A process whose metrics cannot be made (e.g. the shared folder is gone) records nothing
    and says so once: a call never fails because of its metrics.
    """
    if _state.metrics is not None or _state.broken:
        return _state.metrics
    registry = CollectorRegistry(auto_describe=True)
    # A worker: its values go to the shared folder (prometheus-client's mode, chosen from the
    # environment it inherited), but another process exports them.
    worker = getattr(values.ValueClass, "_multiprocess", False) and _state.directory is None
    try:
        _state.metrics = Metrics(registry, zero=not worker)
    except Exception as exc:
        _state.broken = True
        logger.warning("metrics are off in this process: {}", type(exc).__name__)
        return None
    _state.registry = registry
    return _state.metrics


def reset(directory: Path | None) -> None:
    """Forget this process's metrics (made again on next use) and note the shared folder."""
    _state.registry = None
    _state.metrics = None
    _state.broken = False
    _state.directory = directory


def directory() -> Path | None:
    """The multi-process folder this process exports from, if it serves metrics."""
    return _state.directory


def in_process_registry() -> CollectorRegistry | None:
    """The registry of this process's own metrics (None before the first is recorded)."""
    return _state.registry


def scrape_families(
    *, queue_depths: Mapping[int, int] | None, readiness: Mapping[str, bool]
) -> list[Metric]:
    """The gauges read when ``/metrics`` is asked, from values the service just read.

    Args:
        queue_depths: Contacts still queued, by campaign id, for campaigns not done; None when
            the database could not be read (the family is then left out).
        readiness: Each readiness check's name and whether it passed.
    """
    families: list[Metric] = []
    if queue_depths is not None:
        depth = GaugeMetricFamily(
            "elo_campaign_queue_depth",
            "Contacts still queued (waiting, in a call or due for a retry), by campaign id.",
            labels=["campaign"],
        )
        for campaign_id, queued in sorted(queue_depths.items()):
            depth.add_metric([str(int(campaign_id))], float(queued))
        families.append(depth)
    ready = GaugeMetricFamily(
        "elo_ready", "1 when every readiness check passes (as /readyz answers 200), else 0."
    )
    ready.add_metric([], 1.0 if readiness and all(readiness.values()) else 0.0)
    families.append(ready)
    checks = GaugeMetricFamily(
        "elo_readiness_check",
        "Each readiness check of /readyz: 1 passed, 0 failed.",
        labels=["check"],
    )
    for name, ok in readiness.items():
        checks.add_metric([name], 1.0 if ok else 0.0)
    families.append(checks)
    return families
