"""``make smoke-dial``: one real phone call to a number the operator owns, like a campaign call.

The campaign's LiveKit dialer places the call into a room of its own, where a call session set up
as the campaign launcher sets one up (:class:`campaign.launcher.SessionCall` and
:class:`~campaign.launcher.RoomTelephony`; waiting for the answer before it greets) is already
waiting. Each step is reported: the dial (its SIP status), the answer, the greeting, the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from config.settings import AppSettings
from devtools.smoke_probe import MAX_CALL_SECONDS, SmokeFailed, SmokeProbe, probed_session
from storage.models import CallOutcome


async def dial_call(
    settings: AppSettings,
    phone: str,
    *,
    say: Callable[[str], None],
    transport_factory: Callable[[str], Any] | None = None,
    http_client_args: dict[str, Any] | None = None,
) -> None:
    """Place one real call to ``phone`` like a campaign call and report each step.

    Args:
        settings: The smoke settings (see :func:`devtools.smoke.smoke_settings`).
        phone: The number to call, E.164.
        say: Prints one line of progress.
        transport_factory: Builds the call's transport from the room name; the default joins
            the LiveKit room (tests pass a file transport).
        http_client_args: Extra model-client arguments (a private endpoint's SSL context).

    Raises:
        SmokeFailed: A step failed (dial, answer, greeting, end).
    """
    from app.application import open_application
    from campaign.dialer import DialerError, DialRequest, LiveKitDialer
    from campaign.launcher import RoomTelephony, SessionCall
    from campaign.runner import READY_TIMEOUT_S, ROOM_EMPTY_TIMEOUT_S, STOP_TIMEOUT_S
    from pipeline.call.spec import CallSpec
    from pipeline.metadata import CallMetadata
    from pipeline.transports import make_transport

    room, identity = f"elo-smoke-{uuid.uuid4().hex[:12]}", "smoke-callee"
    factory = transport_factory or (lambda name: make_transport(settings, room=name))
    dialer = LiveKitDialer.from_settings(settings)
    probe, live = SmokeProbe(), None
    async with open_application(settings, http_client_args=http_client_args) as app:
        try:
            try:
                await dialer.create_room(
                    room=room,
                    metadata=json.dumps({"smoke": True}),
                    empty_timeout_s=ROOM_EMPTY_TIMEOUT_S,
                )
            except DialerError as exc:
                raise SmokeFailed("dial", str(exc)) from None
            live = SessionCall(
                probed_session(
                    app,
                    probe,
                    CallSpec(
                        metadata=CallMetadata(
                            phone=phone,
                            reason="a test call of the clinic's new phone assistant",
                            language=settings.pipeline.language,
                        ),
                        transport=factory(room),
                        wait_for_answer=True,
                        telephony=RoomTelephony(dialer, room=room, participant_identity=identity),
                    ),
                )
            )
            try:
                await asyncio.wait_for(live.ready.wait(), READY_TIMEOUT_S)
            except TimeoutError:
                raise SmokeFailed("dial", "Elo did not join the call's room in time") from None
            if live.done():
                end = await live.wait()
                raise SmokeFailed("dial", f"Elo's pipeline ended before dialling: {end.reason}")
            started = time.monotonic()
            request = DialRequest(
                room=room,
                phone=phone,
                participant_identity=identity,
                trunk_id=settings.livekit.sip_trunk_id,
                caller_id=settings.livekit.sip_caller_id or None,
                ringing_timeout_s=float(settings.livekit.ringing_timeout_secs),
            )
            try:
                dial = await dialer.dial(request)
            except DialerError as exc:
                raise SmokeFailed("dial", str(exc)) from None
            status = dial.sip_status or "no SIP status"
            say(f"dial       ok  {status} after {time.monotonic() - started:.1f} s")
            if not dial.answered:
                raise SmokeFailed("answer", f"not answered: {dial.outcome} ({status})")
            say("answer     ok  the phone was answered; Elo greets")
            answered = time.monotonic()
            await live.callee_answered()
            with contextlib.suppress(TimeoutError):
                limit = settings.pipeline.first_audio_timeout_secs + 5
                await asyncio.wait_for(probe.first_audio.wait(), limit)
            if probe.first_audio.is_set():
                say(
                    f"greeting   ok  Elo spoke {time.monotonic() - answered:.2f} s after the answer"
                )
                say(f"talk to Elo; hang up to end the call (at most {MAX_CALL_SECONDS} s)")
            end = await live.wait()
            ended = f"{end.outcome} ({end.reason or '-'})"
            if probe.greeting_ns is None:
                raise SmokeFailed("greeting", f"Elo's first audio never arrived: {ended}")
            if end.outcome in (CallOutcome.FAILED, CallOutcome.REFUSED) or probe.errors:
                raise SmokeFailed("end", end.reason or probe.errors[0])
            say(f"end        ok  {ended} after {end.duration_s} s")
        finally:
            if live is not None and not live.done():
                await live.cancel(reason="the smoke test ended")
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(live.wait(), STOP_TIMEOUT_S)
            with contextlib.suppress(DialerError):
                await dialer.hang_up(room=room)
            await dialer.aclose()
