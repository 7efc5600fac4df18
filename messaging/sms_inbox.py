"""What the SMS webhooks act through: a narrow protocol the service is given (:class:`SmsInbox`).

``service/sms_webhooks.py`` verifies Twilio's signature, reads the request and calls one of
these; what the clinic does with a reply or a delivery report lives behind it
(:class:`messaging.store_inbox.StoreInbox` over the database).
"""

from __future__ import annotations

from typing import Protocol

from messaging.sms_replies import Reply


class SmsInbox(Protocol):
    """Where verified SMS events go."""

    async def on_reply(self, *, phone: str, reply: Reply, provider_id: str) -> None:
        """A patient's reply from ``phone`` (E.164), already parsed; its text is not passed on.

        Args:
            phone: The sender's number.
            reply: What it means.
            provider_id: The provider's id of the inbound message (Twilio's MessageSid).
        """
        ...

    async def on_status(self, *, provider_id: str, status: str, error_code: str | None) -> None:
        """The provider reports a sent message's delivery status.

        Args:
            provider_id: The provider's id of the message (Twilio's MessageSid).
            status: Its status (``sent``, ``delivered``, ``undelivered``, ``failed``, ...).
            error_code: The provider's error code when it failed, else None.
        """
        ...
