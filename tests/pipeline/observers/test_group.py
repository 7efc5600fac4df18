"""ObserverGroup: the call's observers behind one Pipecat observer, in a real pipeline."""

from __future__ import annotations

import pytest
from pipecat.frames.frames import TTSStartedFrame, TTSStoppedFrame
from pipecat.processors.filters.identity_filter import IdentityFilter
from pipecat.tests.utils import run_test

from pipeline.observers import CallAnalytics, TranscriptLogger
from pipeline.observers.group import ObserverGroup
from pipeline.observers.watchdogs import FirstAudioWatch
from tests.pipeline.observers.script import audio, elo_says


@pytest.mark.asyncio
async def test_every_member_sees_each_frame_once_and_is_cleaned_up():
    saved: list[list[dict]] = []

    async def on_update(entries: list[dict]) -> None:
        saved.append(list(entries))

    transcript = TranscriptLogger(on_update=on_update, min_interval=60)
    analytics = CallAnalytics()
    first_audio = FirstAudioWatch()
    frames = [TTSStartedFrame(), audio(), elo_says("Përshëndetje."), audio(), TTSStoppedFrame()]
    await run_test(
        IdentityFilter(),
        frames_to_send=frames,
        expected_down_frames=[type(f) for f in frames],
        observers=[ObserverGroup(transcript, analytics, first_audio)],
    )
    assert first_audio.heard.is_set()
    assert [e["text"] for e in transcript.entries if e["role"] == "elo"] == ["Përshëndetje."]
    assert analytics.summary()["elo_turns"] == 1
    # The group's clean-up ran the transcript's final save.
    assert saved and saved[-1] == transcript.entries
