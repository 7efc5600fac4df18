"""Stand-ins at the edge for the messages tests: a strict SMS provider and an SMTP server.

:class:`StrictSms` implements :class:`messaging.channels.SmsChannel` the way Twilio's Messaging
API behaves for what the sender relies on; each rule cites its source. It keeps what it accepted
in a JSON-lines file when given one, so a sender process killed with SIGKILL and a new one see
the same provider (as they would see Twilio).

:class:`SmtpServer` is a real SMTP server (aiosmtpd) on 127.0.0.1 that keeps every message it
receives, can answer with a chosen reply code and can be made slow.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from messaging.channels import PermanentSendError, SendError, Sent

# Twilio: "To ... in E.164 format" (https://www.twilio.com/docs/messaging/api/message-resource
# #create-a-message-resource); E.164 allows at most 15 digits (ITU-T E.164 section 6).
_E164 = re.compile(r"^\+[1-9]\d{1,14}$")
# Twilio: "The maximum length of Body is 1600 characters" (same page, Body parameter); an
# empty Body without media is refused with error 21602 ("Message body is required").
_MAX_BODY = 1600


@dataclass
class StrictSms:
    """An SMS provider for the tests; ``fail`` holds errors to raise on the next sends."""

    path: Path | None = None
    fail: list[SendError] = field(default_factory=list)
    clock: Any = None
    sends_at: list[datetime] = field(default_factory=list)
    # Seconds to wait after accepting, before answering (a crash then loses only the answer).
    answer_delay: float = 0.0

    def _load(self) -> list[dict[str, Any]]:
        if self.path is None or not self.path.exists():
            return list(self._memory)
        return [json.loads(line) for line in self.path.read_text().splitlines() if line]

    def __post_init__(self) -> None:
        self._memory: list[dict[str, Any]] = []

    @property
    def accepted(self) -> list[dict[str, Any]]:
        """Every message accepted, in order."""
        return self._load()

    async def send(self, *, to: str, body: str, idempotency_key: str) -> Sent:
        if not _E164.match(to):
            raise PermanentSendError("21211 invalid 'To' number")  # Twilio error 21211
        if not body.strip():
            raise PermanentSendError("21602 message body is required")
        if len(body) > _MAX_BODY:
            raise PermanentSendError("21617 body exceeds 1600 characters")
        if self.fail:
            raise self.fail.pop(0)
        if self.clock is not None:
            self.sends_at.append(self.clock())
        # A Message SID: "SM" and 32 hex digits (Twilio's SID format for messages).
        record = {
            "sid": "SM" + secrets.token_hex(16),
            "to": to,
            "body": body,
            "key": idempotency_key,
            "at": time.time(),
        }
        if self.path is None:
            self._memory.append(record)
        else:
            with self.path.open("a") as f:
                f.write(json.dumps(record) + "\n")
                f.flush()
        if self.answer_delay:
            await asyncio.sleep(self.answer_delay)
        return Sent(provider_id=record["sid"], status="queued")

    async def find_sent(self, *, to: str, body: str, since: datetime) -> Sent | None:
        for record in self._load():
            if (
                record["to"] == to
                and record["body"] == body
                and record["at"] >= since.timestamp() - 1
            ):
                return Sent(provider_id=record["sid"], status="sent")
        return None


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self._server = server

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self._server.rcpt_reply:
            return self._server.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self._server.delay:
            await asyncio.sleep(self._server.delay)
        if self._server.data_reply:
            return self._server.data_reply
        with self._server.lock:
            self._server.received.append(envelope.content)
        return "250 Message accepted for delivery"


class SmtpServer:
    """A real SMTP server on 127.0.0.1 (aiosmtpd in its own thread)."""

    def __init__(self, *, delay: float = 0.0, tls_context: Any = None) -> None:
        self.received: list[bytes] = []
        self.lock = threading.Lock()
        self.rcpt_reply: str | None = None
        self.data_reply: str | None = None
        self.delay = delay
        self.port = free_port()
        kwargs: dict[str, Any] = {}
        if tls_context is not None:
            kwargs = {"tls_context": tls_context, "require_starttls": True}
        self._controller = Controller(
            _Handler(self), hostname="127.0.0.1", port=self.port, **kwargs
        )

    def start(self) -> SmtpServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def mails(self) -> list[EmailMessage]:
        """Every received message, parsed."""
        with self.lock:
            raw = list(self.received)
        return [message_from_bytes(data, policy=policy.default) for data in raw]  # type: ignore[misc]
