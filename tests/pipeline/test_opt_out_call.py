"""An opt-out honoured within the same call: the bound number is listed, the call ends opted_out.

A real call (pipeline and GeminiLiveLLMService against the local emulator, real SQLite), reusing
the shared harness in ``tests.pipeline.harness``.
"""

from __future__ import annotations

import pytest

from devtools.gemini_emulator import (
    GeminiLiveEmulator,
    input_transcription,
    model_audio,
    output_transcription,
    tool_call,
    turn_complete,
    wait_for_audio,
)
from tests.pipeline.harness import (
    CALL_ID,
    PHONE,
    assert_nothing_left_running,
    goodbye,
    greeting,
    run_call,
    tool_results,
)


@pytest.mark.asyncio
async def test_patient_who_opts_out_is_listed_and_the_call_ends_opted_out(
    tmp_path, store, clinic, clock
):
    said = "Mos më telefononi më, ju lutem."
    script = [
        *greeting(),
        wait_for_audio(seconds=0.5),
        input_transcription(said),
        # The model tries to name a number: refused, nothing listed.
        tool_call("opt_out", {"phone_number": "+355682223344"}, id="sneaky"),
        turn_complete(),
        tool_call("opt_out", {"reason": "nuk do më thirrje"}, id="optout"),
        model_audio(0.1),
        output_transcription("Në rregull, nuk do t'ju telefonojmë më."),
        turn_complete(),
        *goodbye("opted_out", "Mirupafshim."),
    ]
    async with GeminiLiveEmulator(script) as emu:
        await run_call(tmp_path, emu, store, clinic, clock)
        await emu.finished(timeout=5)
    await assert_nothing_left_running()

    responses = tool_results(emu)
    assert "error" in responses["sneaky"]
    assert responses["optout"]["status"] == "opted_out"
    entries = await store.dnc.list()
    assert [(e.phone, e.source, e.call_id, e.reason) for e in entries] == [
        (PHONE, "agent", CALL_ID, "nuk do më thirrje")
    ]
    record = await store.calls.get(call_id=CALL_ID)
    assert record is not None and record.outcome == "opted_out"
