"""The call transcript: both sides and every tool call, saved to the call's row as it grows.

Entries, in the order they complete::

    {"t": "2026-12-01T08:00:01.250+01:00", "role": "patient", "text": "..."}
    {"t": ..., "role": "elo", "text": "...", "interrupted": true}   # "interrupted" only if so
    {"t": ..., "role": "tool", "name": "check_available_slots", "arguments": {...}}
    {"t": ..., "role": "tool", "name": "check_available_slots", "result": {...}}

The patient's words come from Gemini Live's input transcription (``TranscriptionFrame``, pushed
upstream); Elo's from its output transcription (``TTSTextFrame``), joined into one entry per
spoken turn. Gemini may send the tail of a turn's transcription after ``turnComplete``; Pipecat then
opens a new response for it, but text that arrives after a turn closed and before any new audio,
patient line or tool call is the tail of that turn and joins its entry. The full text goes only
to the ``on_update`` callback (the database); the log gets sizes, never words.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from loguru import logger
from pipecat.frames.frames import (
    BotStoppedSpeakingFrame,
    CancelFrame,
    EndFrame,
    Frame,
    FunctionCallInProgressFrame,
    FunctionCallResultFrame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    TTSStoppedFrame,
    TTSTextFrame,
)

from config.clock import Clock, system_clock
from pipeline.observers.base import FrameObserver, Route
from telemetry import ErrorKind
from telemetry import record as metrics

Entry = dict[str, Any]
OnUpdate = Callable[[list[Entry]], Awaitable[None]]


class TranscriptLogger(FrameObserver):
    """Collects the call transcript and hands it to ``on_update`` incrementally.

    A save starts when an entry completes, at most once per ``min_interval`` seconds (a change
    inside the interval is saved when it ends, so a crash loses at most about that much), and
    once more at the end of the call (``EndFrame``/``CancelFrame``, awaited in :meth:`cleanup`).
    Saves run as tasks, one at a time, each with the whole transcript so far: the callback
    overwrites, so a failed save is repaired by the next.

    Args:
        on_update: ``async (entries) -> None``, e.g. bound to ``CallRepository.save_progress``.
        clock: Returns the current aware time: entry times and the save interval.
        min_interval: Shortest time between two saves, in seconds.
        **kwargs: Passed to Pipecat's ``BaseObserver``.
    """

    def __init__(
        self,
        *,
        on_update: OnUpdate,
        clock: Clock = system_clock,
        min_interval: float = 2.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._on_update = on_update
        self._clock = clock
        self._min_interval = min_interval
        self._entries: list[Entry] = []
        # Elo's turn being spoken: its start time and text pieces.
        self._elo_started: datetime | None = None
        self._elo_parts: list[str] = []
        # The last entry is Elo's, closed normally, and nothing (audio, patient, tool) has
        # happened since: late transcription text still belongs to it.
        self._tail_open = False
        self._tail_raw = ""  # that entry's text as received (Gemini's own spacing)
        self._dirty = False
        self._last_save: datetime | None = None
        self._saver: asyncio.Task[None] | None = None
        self._hurry = asyncio.Event()
        self._saves = 0

    def routes(self) -> Mapping[type[Frame], Route]:
        """Frames that make or end transcript entries."""
        return {
            TranscriptionFrame: self._patient,
            TTSTextFrame: self._elo_text,
            TTSAudioRawFrame: self._elo_audio,
            TTSStoppedFrame: self._elo_done,
            BotStoppedSpeakingFrame: self._elo_done,
            LLMFullResponseEndFrame: self._elo_done,
            InterruptionFrame: self._interrupted,
            FunctionCallInProgressFrame: self._tool_called,
            FunctionCallResultFrame: self._tool_result,
            EndFrame: self._call_ended,
            CancelFrame: self._call_ended,
        }

    @property
    def entries(self) -> list[Entry]:
        """The completed entries so far (a copy)."""
        return list(self._entries)

    @property
    def saves(self) -> int:
        """How many saves have succeeded."""
        return self._saves

    async def flush(self) -> None:
        """Finish Elo's open turn and save now, waiting for the save (no-op when saved)."""
        self._close_elo_turn()
        self._hurry.set()
        if self._saver is not None and not self._saver.done():
            await self._saver
        if self._dirty:
            await self._save()
        self._hurry.clear()

    async def cleanup(self) -> None:
        """Save what is left at the end of the call, then release the observer."""
        await self.flush()
        await super().cleanup()

    # --- routes ---------------------------------------------------------------------------

    def _patient(self, frame: Frame, _: int) -> None:
        assert isinstance(frame, TranscriptionFrame)
        text = frame.text.strip()
        if text:
            self._add({"t": self._now(), "role": "patient", "text": text})

    def _elo_text(self, frame: Frame, _: int) -> None:
        assert isinstance(frame, TTSTextFrame)
        if not frame.text:
            return
        # Gemini's output transcription carries its own spaces; other services' words do not.
        spaced = frame.includes_inter_frame_spaces
        piece = frame.text if spaced else f" {frame.text}"
        if self._elo_started is None and self._tail_open:
            self._extend_last_elo_entry(piece)
            return
        if self._elo_started is None:
            self._elo_started = self._clock()
        self._elo_parts.append(piece)

    def _elo_audio(self, _: Frame, __: int) -> None:
        self._tail_open = False

    def _elo_done(self, _: Frame, __: int) -> None:
        self._close_elo_turn()

    def _interrupted(self, _: Frame, __: int) -> None:
        self._close_elo_turn(interrupted=True)

    def _tool_called(self, frame: Frame, _: int) -> None:
        assert isinstance(frame, FunctionCallInProgressFrame)
        self._close_elo_turn()
        self._add(
            {
                "t": self._now(),
                "role": "tool",
                "name": frame.function_name,
                "arguments": _json_ready(frame.arguments),
            }
        )

    def _tool_result(self, frame: Frame, _: int) -> None:
        assert isinstance(frame, FunctionCallResultFrame)
        self._close_elo_turn()
        self._add(
            {
                "t": self._now(),
                "role": "tool",
                "name": frame.function_name,
                "result": _json_ready(frame.result),
            }
        )

    def _call_ended(self, _: Frame, __: int) -> None:
        self._close_elo_turn()
        if self._dirty:
            # The last save skips the interval; cleanup() waits for it.
            self._hurry.set()
            self._start_saver()

    # --- entries and saving ---------------------------------------------------------------

    def _close_elo_turn(self, *, interrupted: bool = False) -> None:
        if self._elo_started is None:
            return
        raw = "".join(self._elo_parts)
        text = " ".join(raw.split())
        entry: Entry = {
            "t": self._elo_started.isoformat(timespec="milliseconds"),
            "role": "elo",
            "text": text,
        }
        if interrupted:
            entry["interrupted"] = True
        self._elo_started = None
        self._elo_parts = []
        if text:
            self._add(entry)
            self._tail_open = not interrupted
            self._tail_raw = raw

    def _extend_last_elo_entry(self, piece: str) -> None:
        self._tail_raw += piece
        # A new dict: a snapshot handed to a save in progress keeps what it had.
        self._entries[-1] = {**self._entries[-1], "text": " ".join(self._tail_raw.split())}
        self._dirty = True
        self._start_saver()

    def _add(self, entry: Entry) -> None:
        self._entries.append(entry)
        self._tail_open = False
        logger.debug(
            "transcript: {} entry #{} ({} chars)",
            entry["role"],
            len(self._entries),
            len(entry.get("text", "")),
        )
        self._dirty = True
        self._start_saver()

    def _start_saver(self) -> None:
        if self._saver is None or self._saver.done():
            self._saver = self.create_task(self._save_when_due(), name="transcript_saver")

    async def _save_when_due(self) -> None:
        while self._dirty:
            wait = self._wait_before_save()
            if wait > 0 and not self._hurry.is_set():
                try:
                    await asyncio.wait_for(self._hurry.wait(), timeout=wait)
                except TimeoutError:
                    pass
            if not await self._save():
                return

    def _wait_before_save(self) -> float:
        if self._last_save is None:
            return 0.0
        elapsed = (self._clock() - self._last_save).total_seconds()
        return self._min_interval - elapsed

    async def _save(self) -> bool:
        self._dirty = False
        snapshot = list(self._entries)
        try:
            await self._on_update(snapshot)
        except Exception as exc:  # a failed save must not end the call; the next one retries
            self._dirty = True
            logger.warning("transcript save failed: {}", type(exc).__name__)
            metrics.error(ErrorKind.STORAGE)
            return False
        self._last_save = self._clock()
        self._saves += 1
        return True

    def _now(self) -> str:
        return self._clock().isoformat(timespec="milliseconds")


def _json_ready(value: Any) -> Any:
    """``value`` as JSON types (tool arguments may arrive as non-JSON mappings or objects)."""
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    try:
        return json.loads(json.dumps(value, ensure_ascii=False, default=str))
    except (TypeError, ValueError):
        return str(value)
