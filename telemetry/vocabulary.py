"""The label values metrics may carry: small fixed sets, never personal data.

A label value is one of the sets below or the catch-all ``other`` (``unknown`` for a tool name
the registry does not know): no phone number, name, call id, room or free text can reach a
label, and no label can grow without bound. The call and attempt outcomes mirror
``storage.models.CallOutcome`` and ``AttemptOutcome`` (this layer is below storage;
``tests/telemetry`` checks the two stay equal).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from enum import StrEnum

OTHER = "other"
UNKNOWN_TOOL = "unknown"

DIRECTIONS = ("outbound", "inbound")

# Twilio's SMS webhooks (service/sms_webhooks.py): which one, and whether it was signed.
SMS_WEBHOOKS = ("inbound", "status")
SMS_WEBHOOK_RESULTS = ("accepted", "forged")

CALL_OUTCOMES = (
    "completed",
    "booked",
    "declined",
    "opted_out",
    "follow_up",
    "voicemail",
    "wrong_person",
    "transferred",
    "hung_up",
    "no_response",
    "not_answered",
    "cancelled",
    "failed",
    "refused",
)

ATTEMPT_OUTCOMES = (
    "booked",
    "follow_up",
    "declined",
    "no_answer",
    "busy",
    "voicemail",
    "failed",
    "opted_out",
    "transferred",
)


class ToolResultKind(StrEnum):
    """How one tool call of a call ended (``pipeline.tool_bridge``)."""

    OK = "ok"
    # The tool answered {"error", "hint"}: an unknown tool, bad arguments, a slot just taken.
    INPUT_ERROR = "input_error"
    REFUSED = "refused"  # the call's limiter refused it (a cap)
    ERROR = "error"  # the handler raised: an internal problem
    TIMEOUT = "timeout"  # it ran past its spec's timeout and was cancelled
    CANCELLED = "cancelled"  # cancelled for another reason (the server, the call ending)


class ErrorKind(StrEnum):
    """The errors counted by ``elo_errors_total``."""

    PIPELINE = "pipeline"  # a pipeline error ended a call (whatever its cause)
    CALL_CRASHED = "call_crashed"  # a call session raised instead of recording an outcome
    MODEL_CONNECT = "model_connect"  # Gemini Live could not be reached within the budget
    TOOL = "tool"  # a tool's handler raised
    DIAL_FAULT = "dial_fault"  # the trunk, the credentials or LiveKit failed a dial
    STORAGE = "storage"  # a database write during a call failed (a transcript save)


class Reconnect(StrEnum):
    """Why the Gemini Live connection was opened again (``pipeline.gemini``)."""

    GO_AWAY = "go_away"  # the server announced the end of the connection
    CONNECTION_LOST = "connection_lost"  # the socket dropped
    RESUME_REFUSED = "resume_refused"  # a resume was refused: a fresh session instead
    CONNECT_RETRY = "connect_retry"  # a connect attempt failed and is retried


# SIP final responses named one by one (campaign.sip_outcomes and the usual carrier answers);
# any other code is reported by its class, e.g. "4xx".
SIP_CODES = frozenset(
    {200, 401, 403, 404, 407, 408, 410, 480, 484, 486, 487, 488, 500, 502, 503, 504, 600, 603, 604}
)
# Attempt states that are not a SIP answer (storage.campaign_queue.NOT_DIALLED, recovery).
SIP_WORDS = frozenset({"not_dialled", "interrupted"})
NO_SIP_STATUS = "none"  # LiveKit's own ringing timeout gives no SIP status

# The (outcome, SIP status, fault) series a campaign's attempts usually fall in
# (campaign.sip_outcomes), started at 0 so the first of each shows as an increase.
_ANSWERED = ("booked", "follow_up", "declined", "voicemail", "opted_out", "transferred", "failed")
DIAL_SERIES: tuple[tuple[str, str, str], ...] = (
    *((outcome, "200", "false") for outcome in _ANSWERED),
    *(("busy", code, "false") for code in ("486", "600", "603")),
    *(("no_answer", code, "false") for code in ("408", "480", "487", NO_SIP_STATUS)),
    *(("failed", code, "false") for code in ("403", "404", "410", "484", "488", "604", "4xx")),
    *(("failed", code, "false") for code in SIP_WORDS),
    *(("failed", code, "true") for code in (NO_SIP_STATUS, "401", "407", "500", "503", "5xx")),
)

_TOOL_NAME = re.compile(r"[a-z][a-z0-9_]{0,47}")
_SIP_CODE = re.compile(r"\s*(\d{3})\b")


def bounded(value: object, allowed: Collection[str]) -> str:
    """``value`` as a label if it is one of ``allowed``, else ``other``."""
    text = str(value)
    return text if text in allowed else OTHER


def tool_label(name: str) -> str:
    """A tool name as a label: the caller passes registry names; anything else is ``unknown``."""
    return name if isinstance(name, str) and _TOOL_NAME.fullmatch(name) else UNKNOWN_TOOL


def sip_label(status: str | None) -> str:
    """A dial's SIP status (e.g. ``"486 Busy Here"``) as its code, its class or a fixed word.

    Args:
        status: The attempt's ``sip_status``: a SIP status text, None when LiveKit gave none,
            or one of :data:`SIP_WORDS`.
    """
    if status is None:
        return NO_SIP_STATUS
    if status in SIP_WORDS:
        return status
    match = _SIP_CODE.match(status)
    if match is None:
        return OTHER
    code = int(match.group(1))
    if code in SIP_CODES:
        return str(code)
    return f"{code // 100}xx" if 100 <= code <= 699 else OTHER
