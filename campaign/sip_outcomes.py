"""What LiveKit's SIP API answers, as attempt outcomes, system faults and dialler errors.

SIP final response -> attempt outcome (:func:`outcome_for_sip`):

==============================================  ===========  =========  ==========================
SIP status                                      outcome      permanent  why
==============================================  ===========  =========  ==========================
486 Busy Here, 600 Busy Everywhere              busy         no         line in use; retry soon
603 Decline                                     busy         no         see below
408 Request Timeout, 480 Temporarily            no_answer    no         rang out, phone off or
Unavailable, 487 Request Terminated, LiveKit's                          unreachable for now
own ringing timeout (no SIP status)
404 Not Found, 410 Gone, 484 Address            failed       yes        the number cannot be
Incomplete, 604 Does Not Exist Anywhere                                 reached: do not retry
401, 407, any 5xx                               failed       no         system fault (see below):
                                                                        charged to no patient
any other code (403, 488...)                    failed       no         trunk/carrier trouble
==============================================  ===========  =========  ==========================

603 Decline is the callee (or their handset on their behalf) rejecting the ringing call: "not
now", before any conversation. It is not ``declined``, which means the patient refused in
conversation and starts a 60-day pause. It is ``busy``: the phone was reached and someone is
there but cannot take the call at this moment, which is exactly the busy situation (Asterisk
also reports a 603 as BUSY). The alternative, ``no_answer``, would claim the phone rang out,
which it did not. A busy retry still counts against the attempt cap (4 per 30 days). Caveat:
some trunks send 603 for their own refusals (e.g. an inactive Twilio account); those then look
busy until the attempt cap is reached, and show in ``sip_status``.

LiveKit reports its own ringing timeout as Twirp ``canceled`` ("sip request timed out") with no
SIP status; that is ``no_answer`` with ``sip_status`` None. See ``devtools/livekit_fake.py`` for
the error shapes the real server sends.

System faults (issue 9 §6): a :class:`DialResult` with ``fault`` set is the trunk's, the
credentials' or LiveKit's failure, not the patient's; the runner charges it to no patient cap
and counts it for its fault breaker. Evidence (livekit/sip be5d3f57, livekit/livekit 788d4c35):

- ``failed_precondition`` without SIP meta: trunk login failure (``pkg/sip/outbound.go``
  ``outboundCall.attemptInvite``'s auth loop: ``ErrAuthMaxRetry``/``ErrAuthMissingCreds``), and
  any server error once the INVITE was sent (``pkg/sip/errors.go`` ``inviteFailure.afterInvite``
  turns it into ``FailedPrecondition`` so it is never re-dialled).
- ``canceled`` "transaction failed to complete (0 intermediate responses)": the trunk sent not
  even 100 Trying (``errors.go`` ``transactionTimeoutError``, "upstream went silent (Timer B)").
  The patient's ring-out is ``canceled`` "sip request timed out" (``outbound.go``
  ``sipResponse``). A ``canceled`` of any text that comes back in under half the ring window
  is also a fault: LiveKit's ring timeout cannot fire before the window ends. Limit: a trunk
  that sends 100 Trying and then nothing looks exactly like a patient who does not pick up.
- SIP 401/407 (the trunk refused our login) and 5xx (the carrier's own failure).
- 5xx Twirp answers, timeouts and an unreachable server (``DialerError`` without
  ``configuration``) after the request was sent: the runner records them as faults too.

A wrong API key or secret: ``pkg/service/auth.go`` ``APIKeyAuthMiddleware.ServeHTTP`` answers
``HandleError(w, r, http.StatusUnauthorized, ...)`` as plain text, which livekit-api 1.2.2
(``twirp_client.py`` ``TwirpClient.request``/``_server_error``) cannot parse as Twirp JSON and
reports as code ``unknown`` with status 401: that is a credentials refusal (configuration).
"""

from __future__ import annotations

from dataclasses import dataclass

from livekit import api

from storage.models import AttemptOutcome

_BUSY = frozenset({486, 600, 603})
_NO_ANSWER = frozenset({408, 480, 487})
_PERMANENT = frozenset({404, 410, 484, 604})
# Twirp codes LiveKit uses for "the phone rang out / the call was cancelled" without SIP status.
_RING_TIMEOUT_CODES = frozenset({"canceled", "deadline_exceeded"})
_AUTH_CODES = frozenset({"unauthenticated", "permission_denied"})
# SIP answers of the trunk or carrier rather than the patient's phone: our trunk login was
# refused (401/407) or the carrier failed (5xx).
_TRUNK_AUTH = frozenset({401, 407})
# errors.go transactionTimeoutError with 0 provisionals: the trunk never answered the INVITE.
_TRUNK_SILENT = "(0 intermediate responses)"
# Non-SIP refusals of a request as such (e.g. an unknown trunk id): the set-up is wrong.
_CONFIG_CODES = frozenset({"invalid_argument", "not_found"})
# Keeps a server message on one short line in errors that may end up in logs.
_MAX_DETAIL = 160


class DialerError(Exception):
    """LiveKit could not be asked to dial: unreachable, credentials refused, bad trunk...

    The message is one line and never carries the API secret.

    Attributes:
        configuration: The set-up is wrong (credentials refused, a request LiveKit rejects
            such as an unknown trunk): every further call would fail the same way.
    """

    def __init__(self, message: str, *, configuration: bool = False) -> None:
        super().__init__(message)
        self.configuration = configuration


@dataclass(frozen=True)
class DialResult:
    """How a dial ended.

    Attributes:
        answered: The callee picked up (a voicemail also answers at the SIP level).
        outcome: The attempt outcome when not answered; None when answered.
        sip_status: e.g. ``"486 Busy Here"`` or ``"200 OK"``; None when LiveKit gave none
            (its own ringing timeout).
        permanent: The number can never be reached (404/410/484/604): do not retry it.
        fault: One line when the system (trunk, credentials, LiveKit) failed, not the
            patient's phone: charged to no patient cap. None for the patient's outcomes.
    """

    answered: bool
    outcome: AttemptOutcome | None
    sip_status: str | None
    permanent: bool
    fault: str | None = None


def outcome_for_sip(code: int | None) -> tuple[AttemptOutcome, bool]:
    """Map a failed call's SIP status to an attempt outcome (see the module table).

    Args:
        code: The SIP final response code, or None when LiveKit's ringing timeout ended the
            call without one.

    Returns:
        ``(outcome, permanent)``; permanent means the number must not be dialled again.
    """
    if code is None or code in _NO_ANSWER:
        return "no_answer", False
    if code in _BUSY:
        return "busy", False
    if code in _PERMANENT:
        return "failed", True
    return "failed", False


def _plain_401(exc: api.ServerError) -> bool:
    # livekit/livekit pkg/service/auth.go answers a bad key or signature with a plain-text 401;
    # livekit-api cannot parse it as Twirp JSON and reports code "unknown" (twirp_client.py).
    return exc.status == 401


def sip_status(code: int | None, reason: str | None) -> str | None:
    """A SIP status as one text, e.g. ``"486 Busy Here"``; None without a code."""
    if code is None:
        return None
    return f"{code} {reason}".strip() if reason else str(code)


def dialer_error(
    exc: BaseException, action: str, *, origin: str, secret: str, scrub: str = ""
) -> DialerError:
    """Turn a non-SIP failure into a one-line :class:`DialerError` without secrets or the number.

    Args:
        exc: What the LiveKit client raised (a server error, a timeout, a connection error).
        action: What was being done, e.g. ``"dial"`` (it ends "LiveKit could not ...").
        origin: The server's ``scheme://host:port``, named in the message.
        secret: The API secret, replaced should the server ever echo it.
        scrub: A phone number or address to replace with ``<phone>`` in the server's text.
    """
    configuration = False
    if isinstance(exc, api.ServerError):
        auth = exc.code in _AUTH_CODES or _plain_401(exc)
        configuration = auth or exc.code in _CONFIG_CODES
        if auth:
            text = f"LiveKit refused the API credentials ({exc.code}) at {origin}"
        else:
            detail = " ".join(str(exc.message).split())[:_MAX_DETAIL]
            if scrub:
                detail = detail.replace(scrub, "<phone>")
            text = f"LiveKit could not {action}: {exc.code} (HTTP {exc.status}): {detail}"
    elif isinstance(exc, TimeoutError):
        text = f"LiveKit API at {origin} did not answer in time while trying to {action}"
    else:
        text = f"LiveKit API unreachable at {origin} ({type(exc).__name__})"
    if secret:
        text = text.replace(secret, "<secret>")
    return DialerError(text, configuration=configuration)


def server_fault(
    exc: api.ServerError, *, phone: str, ringing_timeout_s: float, elapsed_s: float
) -> str | None:
    """The system fault a non-SIP dial error stands for, or None (see the module doc).

    Args:
        exc: The server's error for the dial.
        phone: The dialled number, kept out of the returned line.
        ringing_timeout_s: The dial's ring window.
        elapsed_s: How long the dial took to fail.
    """
    detail = " ".join(str(exc.message).split())[:_MAX_DETAIL].replace(phone, "<phone>")
    if exc.code == "failed_precondition":
        return f"the trunk or LiveKit failed after the call was sent: {detail}"
    if exc.code == "canceled" and _TRUNK_SILENT in str(exc.message):
        return "the trunk never answered the call set-up (no SIP response at all)"
    if exc.code in _RING_TIMEOUT_CODES and elapsed_s < ringing_timeout_s / 2:
        return f"cancelled after {elapsed_s:.0f} s, before the ring window ended: {detail}"
    return None


def ring_timed_out(exc: api.ServerError) -> bool:
    """Whether a non-SIP dial error is LiveKit's own ringing timeout (the patient's no answer)."""
    return exc.code in _RING_TIMEOUT_CODES


def sip_failure(code: int | None, reason: str | None) -> DialResult:
    """The result of a dial that ended with a SIP failure (see the module table).

    A trunk or carrier failure (401/407, 5xx) is a system fault, charged to no patient; any
    other status is the patient's phone's outcome (:func:`outcome_for_sip`).

    Args:
        code: The SIP final response code, or None when LiveKit gave none.
        reason: The SIP reason phrase, if any.
    """
    status = sip_status(code, reason)
    if code is not None and (code in _TRUNK_AUTH or 500 <= code < 600):
        return DialResult(
            answered=False,
            outcome="failed",
            sip_status=status,
            permanent=False,
            fault=f"the trunk or carrier failed (SIP {status})",
        )
    outcome, permanent = outcome_for_sip(code)
    return DialResult(answered=False, outcome=outcome, sip_status=status, permanent=permanent)
