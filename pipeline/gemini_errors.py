"""How a Gemini Live connection failed, in words a clinic's IT person can act on."""

from __future__ import annotations

from google.genai.errors import APIError

from pipeline.models import setup_refusal_setting

# A refusal for these codes is about the request (1007 invalid argument, 1008 policy, e.g. a
# bad API key): retrying sends the same request again, so the call fails at once instead.
_FINAL_CLOSE_CODES = frozenset({1007, 1008})


def retryable(error: BaseException) -> bool:
    """Whether reconnecting after ``error`` can help (not a refusal of the request itself)."""
    return not (isinstance(error, APIError) and error.code in _FINAL_CLOSE_CODES)


def describe(error: BaseException) -> str:
    """One line for the call's outcome: the close code and class, never message bodies."""
    code = getattr(error, "code", None)
    return f"{type(error).__name__} {code}" if code is not None else type(error).__name__


def connect_failure(error: BaseException) -> str:
    """Why the first connect failed, naming the setting to check when the setup was refused.

    A 1007/1008 close at setup is the service refusing this request (bad or expired key,
    unknown or retired model, a config the model does not take): retrying cannot help, and the
    person reading ``calls.outcome_reason`` needs the setting, not the close code alone. The
    close reason (Google's text, never a secret) picks it
    (:func:`pipeline.models.setup_refusal_setting`).
    """
    if isinstance(error, APIError) and error.code in _FINAL_CLOSE_CODES:
        # google-genai keeps a close reason (a plain string) in ``details``, not ``message``.
        reason = " ".join(str(part) for part in (error.message, error.details) if part)
        setting = setup_refusal_setting(reason)
        return f"the model service refused the setup ({error.code}): check {setting}"
    return f"could not connect to the model service ({describe(error)})"
