"""What the messages outbox returns (``store.messages``)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from storage.outbox_plan import Channel, Kind

MessageStatus = Literal["pending", "sending", "sent", "failed", "dead", "skipped"]
MESSAGE_STATUSES: tuple[MessageStatus, ...] = (
    "pending",
    "sending",
    "sent",
    "failed",
    "dead",
    "skipped",
)


class OutboxMessage(BaseModel):
    """One row of the outbox.

    Attributes:
        id: The row.
        patient_id: Whose message.
        appointment_id: The appointment it is about.
        channel: ``sms`` or ``email``.
        kind: ``confirmation``, ``reminder``, ``moved`` or ``cancelled``.
        language: The patient's language when it was planned.
        revision: The appointment's revision it was planned for.
        due_at: When it was planned to go.
        status: Where it is.
        attempts: Sending tries so far.
        next_attempt_at: When it may go (next).
        claimed_at: When a sender took it (status ``sending``).
        idempotency_key: Names the message for good (``appt:{id}:{kind}:{rev}:{offset}:{ch}``).
        provider_id: The provider's id once sent (an SMS SID, an email's Message-ID).
        delivery_status: The provider's last delivery status.
        last_error: Why it failed, was skipped or is dead (short, no content).
        created_at: When it was planned.
        sent_at: When the provider accepted it.
    """

    model_config = ConfigDict(frozen=True)

    id: int
    patient_id: int
    appointment_id: int | None
    channel: Channel
    kind: Kind
    language: str
    revision: int
    due_at: datetime
    status: MessageStatus
    attempts: int
    next_attempt_at: datetime
    claimed_at: datetime | None
    idempotency_key: str
    provider_id: str | None
    delivery_status: str | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


class Claimed(BaseModel):
    """A row a sender took, and whether an earlier sender had taken it and vanished.

    Attributes:
        message: The row (now ``sending``).
        abandoned_since: The earlier claim's time when the row was left ``sending`` past its
            lease (a crashed sender): it may have gone already.
    """

    model_config = ConfigDict(frozen=True)

    message: OutboxMessage
    abandoned_since: datetime | None = None


class MessageTarget(BaseModel):
    """What rendering and sending one message needs, read when it is sent.

    Attributes:
        phone: The patient's number (E.164).
        email: The patient's email, if any.
        language: The patient's language now.
        opted_out: Whether the patient has opted out of this message's channel.
        appointment_status: The appointment's status now.
        starts_at: Its start now.
        ends_at: Its end now.
        revision: Its revision now (a move raises it).
    """

    model_config = ConfigDict(frozen=True)

    phone: str
    email: str | None
    language: str
    opted_out: bool
    appointment_status: str
    starts_at: datetime
    ends_at: datetime
    revision: int


class MessageListItem(BaseModel):
    """One line of ``elo messages list``: masked recipient, no content.

    Attributes:
        id: The row.
        appointment_id: The appointment.
        channel: ``sms`` or ``email``.
        kind: What it says.
        status: Where it is.
        to: The masked number or email.
        due_at: When it was planned to go.
        attempts: Tries so far.
        sent_at: When it went.
        delivery_status: The provider's last delivery status.
        last_error: Why it failed, was skipped or is dead.
    """

    model_config = ConfigDict(frozen=True)

    id: int
    appointment_id: int | None
    channel: Channel
    kind: Kind
    status: MessageStatus
    to: str
    due_at: datetime
    attempts: int
    sent_at: datetime | None
    delivery_status: str | None
    last_error: str | None
