"""An appointment email: the text, the ``.ics`` invite, and a Message-ID that never changes.

The Message-ID is derived from the outbox row's idempotency key, so a message sent again after
a crash (SMTP cannot be asked whether it went) carries the same Message-ID, and receivers that
de-duplicate on it show it once.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from zoneinfo import ZoneInfo

from messaging.invite import Method, build_invite
from messaging.render import Rendered
from storage.outbox_plan import Kind

# Which invite each kind carries; a reminder is text only (the event is already in the calendar).
INVITE_METHOD: dict[Kind, Method | None] = {
    "confirmation": "REQUEST",
    "moved": "REQUEST",
    "cancelled": "CANCEL",
    "reminder": None,
}


def message_id(idempotency_key: str, domain: str) -> str:
    """The stable Message-ID of the row with this key."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    return f"<{digest}@{domain}>"


def domain_of(address: str, *, fallback: str = "elo.invalid") -> str:
    """The domain of an email address (``Name <a@b>`` too), or ``fallback``."""
    _, email = parseaddr(address)
    return email.rpartition("@")[2].lower() or fallback


def build_email(
    *,
    rendered: Rendered,
    kind: Kind,
    idempotency_key: str,
    from_address: str,
    to: str,
    appointment_id: int,
    revision: int,
    starts_at: datetime,
    ends_at: datetime,
    tz: ZoneInfo,
    location: str,
    now: datetime,
) -> EmailMessage:
    """The email of one outbox row (text body, plus the invite for bookings, moves, cancels)."""
    domain = domain_of(from_address)
    mail = EmailMessage()
    mail["From"] = from_address
    mail["To"] = Address(addr_spec=to)
    mail["Subject"] = rendered.subject
    mail["Date"] = format_datetime(now)
    mail["Message-ID"] = message_id(idempotency_key, domain)
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(rendered.body)
    method = INVITE_METHOD[kind]
    if method is not None:
        invite = build_invite(
            appointment_id=appointment_id,
            revision=revision,
            method=method,
            starts_at=starts_at,
            ends_at=ends_at,
            tz=tz,
            summary=rendered.summary,
            location=location,
            organizer=parseaddr(from_address)[1],
            attendee=to,
            domain=domain,
            now=now,
        )
        mail.add_attachment(
            invite,
            maintype="text",
            subtype="calendar",
            filename="invite.ics",
            params={"method": method},
        )
    return mail
