"""What a message channel (SMS provider, email) promises the sender: the shared contract.

A channel sends one rendered message and says how it went with one of three errors: the sender
retries :class:`TemporarySendError`, dead-letters :class:`PermanentSendError` with its reason, and
for SMS asks the provider what it already accepted before sending a row again after a crash
(:meth:`SmsChannel.find_sent`), so a message is never sent twice nor lost.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from pydantic import BaseModel, ConfigDict


class SendError(Exception):
    """A message was not sent. ``reason`` is short, safe to store and show staff (no content)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TemporarySendError(SendError):
    """Try again later: rate limited, provider down, network trouble."""


class PermanentSendError(SendError):
    """Never try this message again: bad number, recipient opted out, rejected content."""


class Sent(BaseModel):
    """The provider accepted a message.

    Attributes:
        provider_id: The provider's id for it (Twilio's Message SID, an email's Message-ID).
        status: The provider's first status for it (e.g. ``queued``, ``accepted``, ``sent``).
    """

    model_config = ConfigDict(frozen=True)

    provider_id: str
    status: str


class SmsChannel(Protocol):
    """An SMS provider adapter (Twilio's Messaging API first)."""

    async def send(self, *, to: str, body: str, idempotency_key: str) -> Sent:
        """Send ``body`` to the E.164 number ``to``.

        Raises:
            TemporarySendError: Worth retrying.
            PermanentSendError: Never worth retrying.
        """
        ...

    async def find_sent(self, *, to: str, body: str, since: datetime) -> Sent | None:
        """The message with this body the provider accepted for ``to`` at or after ``since``.

        Used after a crash for a row left ``sending``: if the provider has it, it was sent.

        Raises:
            TemporarySendError: The provider could not be asked; try later.
        """
        ...


class EmailChannel(Protocol):
    """An email sender (SMTP)."""

    async def send(self, message: object, *, idempotency_key: str) -> Sent:
        """Send ``message`` (an :class:`email.message.EmailMessage`).

        Raises:
            TemporarySendError: Worth retrying.
            PermanentSendError: Never worth retrying.
        """
        ...
