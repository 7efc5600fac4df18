"""The sender: claims due outbox rows, renders them now, sends them, records how it went.

One pass (:meth:`Sender.run_once`) claims batches until nothing is due. For each row:

1. The appointment and the patient as they are now decide whether it still goes: a cancelled
   appointment's reminder, a moved appointment's old reminder, a reminder once the appointment
   has started, a channel the patient opted out of: skipped, with the reason.
2. Quiet hours: a message goes only inside the calling window (the one mechanism of
   :class:`app.calling_rules.CallingWindow`, in the clinic's zone, checked right before every
   try); outside it the row waits for the next opening, and a reminder whose next opening is
   after the appointment starts is skipped.
3. It is rendered (:mod:`messaging.render`) and sent through its channel, with quick in-call
   retries (tenacity) of a :class:`TemporarySendError`; then the row waits with a doubling
   backoff until ``max_attempts`` (dead). A :class:`PermanentSendError` is dead at once.

A row found ``sending`` past its lease (its sender crashed) may have gone already: for SMS the
provider is asked (:meth:`SmsChannel.find_sent`) and a message it has is recorded sent, not sent
again; SMTP cannot be asked, so an email is sent again with the same Message-ID, which receivers
de-duplicate.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from loguru import logger
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_fixed

from app.calling_rules import CallingWindow, NoCallingTimeError
from config.clinic import ClinicProfile
from config.clock import Clock
from config.settings_messages import MessagesSettings
from messaging.channels import (
    EmailChannel,
    PermanentSendError,
    SendError,
    Sent,
    SmsChannel,
    TemporarySendError,
)
from messaging.email_message import build_email
from messaging.render import Rendered, render
from storage import Store
from storage.message_models import Claimed, MessageTarget, OutboxMessage
from storage.outbox_plan import Channel

# The longest wait between two tries of one message.
MAX_BACKOFF = timedelta(hours=6)
_ACTIVE = ("scheduled", "confirmed")


class _WindowClosed(Exception):
    """The calling window closed between the claim and a try."""


@dataclass
class SendSummary:
    """What one pass did, by outcome."""

    sent: int = 0
    recovered: int = 0
    failed: int = 0
    dead: int = 0
    skipped: int = 0
    deferred: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    # Set when the pass found the calling window closed: when it opens next (local time).
    window_opens: datetime | None = None

    def add(self, outcome: str, reason: str | None = None) -> None:
        """Count one row's outcome (and a skip's or death's reason)."""
        setattr(self, outcome, getattr(self, outcome) + 1)
        if outcome == "recovered":  # found sent at the provider after a crash: sent, once
            self.sent += 1
        if reason:
            self.reasons[reason] = self.reasons.get(reason, 0) + 1

    def line(self) -> str:
        """One line for people: ``sent 3, waiting 1, failed 0, dead 0, skipped 2``."""
        line = (
            f"sent {self.sent} (recovered {self.recovered}), waiting for the calling window"
            f" {self.deferred}, failed {self.failed}, dead {self.dead}, skipped {self.skipped}"
        )
        if self.window_opens is not None:
            line += f"; the calling window is closed until {self.window_opens:%Y-%m-%d %H:%M}"
        return line


@dataclass(frozen=True)
class SenderConfig:
    """Where and when the sender sends.

    Attributes:
        clinic: Name, address, phone, zone and country (public holidays) of the clinic.
        window: The calling window (quiet hours are everything outside it).
        settings: Attempts, backoff, lease and batch size.
        from_address: The email From (its domain names UIDs and Message-IDs).
    """

    clinic: ClinicProfile
    window: CallingWindow
    settings: MessagesSettings
    from_address: str = ""


class Sender:
    """Sends what the outbox holds through the channels it has.

    Args:
        store: The open store.
        config: Clinic, window and settings.
        sms: The SMS channel, or None when SMS is not configured (its rows wait).
        email: The email channel, or None when email is not configured.
        clock: Source of the current time.
        sleep: The in-call retry's pause (tests may pass a fake).
    """

    def __init__(
        self,
        *,
        store: Store,
        config: SenderConfig,
        sms: SmsChannel | None,
        email: EmailChannel | None,
        clock: Clock,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._store = store
        self._config = config
        self._sms = sms
        self._email = email
        self._clock = clock
        self._sleep = sleep
        self.channels: frozenset[Channel] = frozenset(
            name for name, ch in (("sms", sms), ("email", email)) if ch is not None
        )

    async def aclose(self) -> None:
        """Close the channels that hold connections (an HTTP client of the SMS provider)."""
        for channel in (self._sms, self._email):
            close = getattr(channel, "aclose", None)
            if close is not None:
                await close()

    @property
    def _tz(self) -> ZoneInfo:
        return self._config.clinic.tz

    def window_open(self, at: datetime) -> bool:
        """Whether messages may go at ``at``."""
        return self._config.window.allowed(at, tz=self._tz, country=self._config.clinic.country)

    async def run_once(self, *, max_batches: int = 1000) -> SendSummary:
        """Claim and handle batches until nothing is due.

        Outside the calling window the due rows are still claimed, to be put back until the
        next opening (or skipped when that is after their appointment starts): nothing is sent.
        """
        summary = SendSummary()
        settings = self._config.settings
        lease = timedelta(seconds=settings.lease_secs)
        for _ in range(max_batches):
            batch = await self._store.messages.claim(
                lease=lease, limit=settings.batch_size, channels=self.channels
            )
            if not batch:
                break
            for claimed in batch:
                outcome, reason = await self._one(claimed)
                summary.add(outcome, reason)
        now = self._clock()
        if not self.window_open(now):
            summary.window_opens = self._next_opening(now)
        return summary

    async def _one(self, claimed: Claimed) -> tuple[str, str | None]:
        message = claimed.message
        messages = self._store.messages
        target = await messages.target(message=message)
        reason = self._skip_reason(message, target)
        if reason is not None:
            await messages.mark_skipped(message_id=message.id, reason=reason)
            return "skipped", reason
        assert target is not None  # _skip_reason said so
        recovered = False
        try:
            rendered = render(
                message.kind,
                language=target.language,
                starts_at=target.starts_at,
                clinic=self._config.clinic,
            )
            # Asking the provider is not sending: done first, also outside the window, so a
            # row put back to wait never loses that its sender died mid-send.
            found = await self._found_at_provider(claimed, target, rendered.body)
            if found is not None:
                sent, recovered = found, True
            elif not self.window_open(self._clock()):
                raise _WindowClosed
            elif message.channel == "sms":
                sent = await self._send_sms(message, target, rendered.body)
            else:
                sent = await self._send_email(message, target, rendered, self._clock())
        except _WindowClosed:
            return await self._wait_for_window(message, target, self._clock())
        except PermanentSendError as exc:
            await messages.mark_dead(message_id=message.id, error=exc.reason)
            return "dead", exc.reason
        except TemporarySendError as exc:
            return await self._failed(message, exc.reason)
        except Exception as exc:
            # A bug or an unexpected library error: the row waits like a temporary failure,
            # named by type only (an exception's text may carry an address).
            logger.warning("message {} not sent: {}", message.id, type(exc).__name__)
            return await self._failed(message, f"error {type(exc).__name__}")
        await messages.mark_sent(
            message_id=message.id, provider_id=sent.provider_id, delivery_status=sent.status
        )
        return ("recovered" if recovered else "sent"), None

    def _skip_reason(self, message: OutboxMessage, target: MessageTarget | None) -> str | None:
        if target is None:
            return "appointment or patient gone"
        if target.opted_out:
            return "opted out"
        if message.channel == "email" and not target.email:
            return "no email address"
        status = target.appointment_status
        if self._clock() >= target.starts_at:
            return "appointment already started"
        if message.kind == "cancelled":
            return None if status == "cancelled" else f"appointment {status}"
        if status not in _ACTIVE:
            return f"appointment {status.replace('_', '-')}"
        if target.revision != message.revision:
            return "appointment moved"
        return None

    def _next_opening(self, now: datetime) -> datetime | None:
        clinic = self._config.clinic
        try:
            opening = self._config.window.next_allowed(now, tz=self._tz, country=clinic.country)
        except NoCallingTimeError:
            return None
        return opening.astimezone(self._tz)

    async def _wait_for_window(
        self, message: OutboxMessage, target: MessageTarget, now: datetime
    ) -> tuple[str, str | None]:
        opening = self._next_opening(now)
        # Any message about an appointment is pointless once it has started.
        if opening is None or opening >= target.starts_at:
            reason = "the calling window opens only after the appointment starts"
            await self._store.messages.mark_skipped(message_id=message.id, reason=reason)
            return "skipped", reason
        await self._store.messages.defer(message_id=message.id, until=opening)
        return "deferred", None

    async def _failed(self, message: OutboxMessage, reason: str) -> tuple[str, str | None]:
        settings = self._config.settings
        if message.attempts >= settings.max_attempts:
            why = f"gave up after {message.attempts} tries: {reason}"
            await self._store.messages.mark_dead(message_id=message.id, error=why)
            return "dead", why
        wait = min(
            timedelta(seconds=settings.retry_base_secs * 2 ** (message.attempts - 1)), MAX_BACKOFF
        )
        await self._store.messages.mark_failed(
            message_id=message.id, error=reason, retry_at=self._clock() + wait
        )
        return "failed", None

    async def _try(self, send: Callable[[], Awaitable[Sent]]) -> Sent:
        """``send`` with quick retries of temporary failures, each only inside the window."""

        async def attempt() -> Sent:
            if not self.window_open(self._clock()):
                raise _WindowClosed
            return await send()

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._config.settings.in_call_tries),
            wait=wait_fixed(1),
            retry=retry_if_exception_type(TemporarySendError),
            sleep=self._sleep,
            reraise=True,
        )
        return await retrying(attempt)

    async def _found_at_provider(
        self, claimed: Claimed, target: MessageTarget, body: str
    ) -> Sent | None:
        """For an SMS row whose sender died mid-send: what the provider already accepted."""
        if claimed.abandoned_since is None or claimed.message.channel != "sms":
            return None
        if self._sms is None:  # claim() only returns rows of the channels this sender has
            raise TemporarySendError("sms not configured")
        found = await self._sms.find_sent(to=target.phone, body=body, since=claimed.abandoned_since)
        if found is not None:
            logger.info("message {} was sent before a crash; not sending again", claimed.message.id)
        return found

    async def _send_sms(self, message: OutboxMessage, target: MessageTarget, body: str) -> Sent:
        sms = self._sms
        if sms is None:  # claim() only returns rows of the channels this sender has
            raise TemporarySendError("sms not configured")
        return await self._try(
            lambda: sms.send(to=target.phone, body=body, idempotency_key=message.idempotency_key)
        )

    async def _send_email(
        self, message: OutboxMessage, target: MessageTarget, rendered: Rendered, now: datetime
    ) -> Sent:
        email = self._email
        if email is None or not target.email:
            raise TemporarySendError("email not configured")
        mail = build_email(
            rendered=rendered,
            kind=message.kind,
            idempotency_key=message.idempotency_key,
            from_address=self._config.from_address,
            to=target.email,
            appointment_id=message.appointment_id or 0,
            revision=target.revision,
            starts_at=target.starts_at,
            ends_at=target.ends_at,
            tz=self._tz,
            location=self._config.clinic.address,
            now=now,
        )
        return await self._try(lambda: email.send(mail, idempotency_key=message.idempotency_key))


__all__ = ["SendError", "SendSummary", "Sender", "SenderConfig"]
