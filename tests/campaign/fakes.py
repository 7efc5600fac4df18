"""Test doubles for the campaign runner: a scripted conversation in place of the voice pipeline.

The runner under test is real, and so are the store (a SQLite file), the dialer (the real
livekit-api client) and the LiveKit server API (the local Twirp fake). What is scripted is what
lies beyond the machine: the patient and the model. Their conversation is played by
:class:`ScriptedLauncher`, which leaves in the database what a real call leaves (a follow-up,
an opt-out) and ends with the outcome the pipeline would record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from campaign.calls import CallEnd, CallJob
from storage import Store


async def eventually(predicate: Callable[[], bool], *, polls: int = 3000) -> None:
    """Wait (up to ~30 s) until ``predicate()`` holds; fail the test otherwise."""
    for _ in range(polls):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


@dataclass(frozen=True)
class Conversation:
    """What happens once a callee answers.

    Attributes:
        outcome: The call outcome the pipeline records (booked, declined, completed, ...).
        callback_in: The patient asks to be called back after this long (a follow-up).
        opt_out: The patient asks never to be called again.
        hold: Keep the call open until the test releases it.
    """

    outcome: str = "declined"
    callback_in: timedelta | None = None
    opt_out: bool = False
    hold: bool = False


@dataclass
class LaunchRecord:
    """One pipeline start, as the test sees it."""

    room: str
    phone: str
    dialled_before_start: int
    answered: bool = False
    cancelled: str | None = None


class ScriptedCall:
    """A LiveCall whose conversation is scripted."""

    def __init__(self, launcher: ScriptedLauncher, job: CallJob, record: LaunchRecord) -> None:
        self._launcher = launcher
        self._job = job
        self._record = record
        self.ready = asyncio.Event()
        self._ended: asyncio.Future[CallEnd] = asyncio.get_running_loop().create_future()
        self.ready.set()

    async def callee_answered(self) -> None:
        """Play the conversation."""
        self._record.answered = True
        self._launcher.in_conversation += 1
        self._launcher.peak = max(self._launcher.peak, self._launcher.in_conversation)
        script = self._launcher.conversations.get(self._job.contact.phone, Conversation())
        store, now = self._launcher.store, self._launcher.clock()
        if script.callback_in is not None:
            await store.follow_ups.create(
                phone=self._job.contact.phone,
                name=self._job.contact.name,
                due_at=now + script.callback_in,
                reason="asked to be called back",
                source="agent",
                call_id=self._job.call_id,
            )
        if script.opt_out:
            await store.dnc.add(
                phone=self._job.contact.phone,
                reason="asked in the call",
                source="agent",
                call_id=self._job.call_id,
            )
        if script.hold:
            await self._launcher.release.wait()
        self._launcher.in_conversation -= 1
        if not self._ended.done():
            self._ended.set_result(CallEnd(outcome=script.outcome, duration_s=60))

    async def cancel(self, *, reason: str) -> None:
        """The runner stopped the pipeline."""
        self._record.cancelled = reason
        if not self._ended.done():
            self._ended.set_result(CallEnd(outcome="cancelled", reason=reason))

    async def wait(self) -> CallEnd:
        """Wait for the end."""
        return await asyncio.shield(self._ended)

    def done(self) -> bool:
        """Whether the call ended."""
        return self._ended.done()


@dataclass
class ScriptedLauncher:
    """Starts scripted calls and records what the runner did with them."""

    store: Store
    clock: Callable[[], datetime]
    dialled: Callable[[str], int]
    conversations: dict[str, Conversation] = field(default_factory=dict)
    launches: list[LaunchRecord] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    in_conversation: int = 0
    peak: int = 0

    async def start(self, job: CallJob) -> ScriptedCall:
        """Start a call: the record notes how often the number had been dialled before."""
        record = LaunchRecord(
            room=job.room,
            phone=job.contact.phone,
            dialled_before_start=self.dialled(job.contact.phone),
        )
        self.launches.append(record)
        return ScriptedCall(self, job, record)
