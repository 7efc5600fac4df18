"""Scripts and answer tables of the LiveKit fake (:mod:`devtools.livekit_fake`).

What one dialled number or one transfer does, and how a SIP answer becomes a Twirp error; each
rule cites the real source it was read from (see the fake's module docstring).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SipOutcome = Literal[
    "answered",
    "busy",
    "no_answer",
    "declined",
    "not_found",
    "unavailable",
    "trunk_silent",
    "trunk_auth_failed",
    "server_error",
    "bridge_shutdown",
]

# Failures that carry no SIP status: (Twirp code, msg), as livekit/sip be5d3f57 sends them.
# - trunk_silent: pkg/sip/errors.go transactionTimeoutError with 0 provisionals, returned as
#   psrpc.Canceled: the trunk never answered the INVITE (not even 100 Trying).
# - trunk_auth_failed: pkg/sip/outbound.go attemptInvite's auth loop, psrpc.FailedPrecondition
#   ErrAuthMaxRetry (the trunk kept answering 401/407 to our credentials).
# - server_error: pkg/sip/errors.go inviteFailure.afterInvite turns a server-side failure after
#   the INVITE was sent into psrpc.FailedPrecondition so SDKs never re-dial.
_NO_STATUS_FAILURES: dict[str, tuple[str, str]] = {
    "trunk_silent": ("canceled", "transaction failed to complete (0 intermediate responses)"),
    "trunk_auth_failed": ("failed_precondition", "max auth retry attempts reached"),
    "server_error": ("failed_precondition", "media setup failed after INVITE"),
    # pkg/sip/outbound.go sipResponse: the SIP bridge stopping mid-dial cancels the INVITE with
    # psrpc.Canceled "service shutting down", long before any ring window ends.
    "bridge_shutdown": ("canceled", "service shutting down"),
}
# livekit/livekit 788d4c35 pkg/service/sip.go SIPService.CreateSIPParticipant: a dial that waits
# for the answer gets 80 s in all, joining the room included.
SERVER_DIAL_CAP_S = 80.0
TransferOutcome = Literal["ok", "fail"]

# Reason phrases the fake puts in ``sip_status`` (RFC 3261 names, as carriers send them).
SIP_REASONS: dict[int, str] = {
    200: "OK",
    404: "Not Found",
    408: "Request Timeout",
    410: "Gone",
    480: "Temporarily Unavailable",
    482: "Loop Detected",
    484: "Address Incomplete",
    486: "Busy Here",
    487: "Request Terminated",
    500: "Server Internal Error",
    503: "Service Unavailable",
    600: "Busy Everywhere",
    603: "Decline",
    604: "Does Not Exist Anywhere",
}

# SIP final response -> Twirp code, as livekit/protocol's sipCodeToGRPCCode (subset we script).
_SIP_TO_TWIRP: dict[int, str] = {
    404: "not_found",
    408: "deadline_exceeded",
    410: "not_found",
    480: "resource_exhausted",
    482: "failed_precondition",
    484: "invalid_argument",
    486: "resource_exhausted",
    487: "aborted",
    600: "resource_exhausted",
    603: "permission_denied",
    604: "not_found",
}

# Twirp's code -> HTTP status table (twitchtv/twirp errors.go).
TWIRP_HTTP_STATUS: dict[str, int] = {
    "canceled": 408,
    "unknown": 500,
    "invalid_argument": 400,
    "malformed": 400,
    "deadline_exceeded": 408,
    "not_found": 404,
    "bad_route": 404,
    "already_exists": 409,
    "permission_denied": 403,
    "unauthenticated": 401,
    "resource_exhausted": 429,
    "failed_precondition": 412,
    "aborted": 409,
    "out_of_range": 400,
    "unimplemented": 501,
    "internal": 500,
    "unavailable": 503,
    "dataloss": 500,
}

# The SIP code each scripted failure sends when the script does not name one.
_DEFAULT_SIP_CODE: dict[str, int] = {
    "busy": 486,
    "no_answer": 480,
    "declined": 603,
    "not_found": 404,
    "unavailable": 503,
}

# LiveKit's default ring window when a request leaves ringing_timeout unset.
DEFAULT_RINGING_TIMEOUT_S = 30.0


def twirp_code_for_sip(code: int) -> str:
    """The Twirp error code LiveKit uses for a failed call with this SIP final response.

    Args:
        code: The SIP status code, e.g. 486.

    Returns:
        The Twirp code, e.g. ``"resource_exhausted"``.
    """
    if code in _SIP_TO_TWIRP:
        return _SIP_TO_TWIRP[code]
    if 500 <= code < 600:
        return "failed_precondition"
    return "invalid_argument"


@dataclass(frozen=True)
class SipScript:
    """What happens when the fake dials one phone number.

    Attributes:
        outcome: ``answered`` (the callee joins the room), or a failure: ``busy`` (486),
            ``no_answer`` (480 after ``ring_secs``; with ``ring_secs=None`` it rings until the
            request's ringing timeout and LiveKit cancels), ``declined`` (603), ``not_found``
            (404) or ``unavailable`` (503).
        ring_secs: How long the phone rings before the outcome. ``None`` means forever (only
            LiveKit's ringing timeout ends it). If it is not shorter than the request's ringing
            timeout, LiveKit's timeout wins whatever the outcome.
        sip_code: Overrides the failure's SIP code (e.g. 408 for a no-answer, 600 for busy).
        sip_status: Overrides the reason phrase.
    """

    outcome: SipOutcome = "answered"
    ring_secs: float | None = 0.0
    sip_code: int | None = None
    sip_status: str | None = None

    def failure(self) -> tuple[int, str] | None:
        """The SIP code and reason phrase this script fails with, or None when it answers."""
        if self.outcome == "answered" or self.outcome in _NO_STATUS_FAILURES:
            return None
        code = self.sip_code or _DEFAULT_SIP_CODE[self.outcome]
        return code, self.sip_status or SIP_REASONS.get(code, "Error")


@dataclass(frozen=True)
class SipTransferScript:
    """What happens when the fake transfers a SIP participant.

    Attributes:
        outcome: ``ok`` (the REFER is accepted and the SIP participant leaves the room) or
            ``fail``.
        sip_code: The SIP status of a failure (603 Decline, 408 timeout, 482 loop...).
        reason: The ``SIPTransferReason`` name; by default ``STR_RINGING_TIMEOUT`` for
            408/480/487 and ``STR_REJECTED`` otherwise.
        via_response: Report a failure as a 200 ``TransferSIPParticipantResponse`` with status
            ``STS_TRANSFER_FAILED`` instead of a Twirp error.
    """

    outcome: TransferOutcome = "ok"
    sip_code: int = 603
    reason: str | None = None
    via_response: bool = False

    def transfer_reason(self) -> str:
        """The ``SIPTransferReason`` name of this script's failure."""
        if self.reason:
            return self.reason
        return "STR_RINGING_TIMEOUT" if self.sip_code in (408, 480, 487) else "STR_REJECTED"
