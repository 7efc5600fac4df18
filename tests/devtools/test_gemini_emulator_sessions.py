"""The emulator's sessions, resumption handles, refusals and goAway, driven by a bare client."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from devtools.gemini_emulator import (
    GO_AWAY_CLOSE,
    RESUME_WHILE_OPEN,
    UNKNOWN_HANDLE,
    WS_PATH,
    GeminiLiveEmulator,
    go_away,
    resumed,
    send_tool_call,
    turn_complete,
    wait_for_audio,
    wait_for_tool_response,
)


async def _open(emu: GeminiLiveEmulator, handle: str | None = None) -> ClientConnection:
    ws = await connect(f"wss://127.0.0.1:{emu.port}{WS_PATH}", ssl=emu.ssl_context)
    resumption = {"handle": handle} if handle else {}
    await ws.send(json.dumps({"setup": {"model": "models/x", "sessionResumption": resumption}}))
    return ws


async def _refusal(ws: ClientConnection) -> int | None:
    with pytest.raises(ConnectionClosed) as closed:
        await ws.recv()
    return closed.value.rcvd.code if closed.value.rcvd else None


async def _audio(ws: ClientConnection, nbytes: int) -> None:
    blob = {"mimeType": "audio/pcm;rate=16000", "data": base64.b64encode(b"\1" * nbytes).decode()}
    await ws.send(json.dumps({"realtimeInput": {"audio": blob}}))


async def _recv(ws: ClientConnection) -> dict[str, Any]:
    return json.loads(await ws.recv())


@pytest.mark.asyncio
async def test_the_first_connections_are_refused_then_one_is_accepted():
    async with GeminiLiveEmulator([], refuse_first=2) as emu:
        for _ in range(2):
            ws = await _open(emu)
            assert await _refusal(ws) == 1011
        ws = await _open(emu)
        assert await _recv(ws) == {"setupComplete": {}}
        await ws.close()

    assert emu.refused == [(0, 1011), (1, 1011)]
    assert emu.session_count == 1


@pytest.mark.asyncio
async def test_go_away_is_followed_by_the_close_when_its_time_is_up():
    async with GeminiLiveEmulator([wait_for_audio(nbytes=2), go_away("0.2s")]) as emu:
        ws = await _open(emu)
        assert await _recv(ws) == {"setupComplete": {}}
        await _audio(ws, 2)
        assert await _recv(ws) == {"goAway": {"timeLeft": "0.2s"}}
        assert await _refusal(ws) == GO_AWAY_CLOSE[0]
        await emu.finished()


@pytest.mark.asyncio
async def test_handles_resume_the_state_they_were_issued_for():
    script = [
        wait_for_audio(nbytes=4),
        send_tool_call("book", {"slot": "10:00"}, id="t1"),
        wait_for_tool_response("t1"),
        turn_complete(),
        resumed(),
        wait_for_audio(nbytes=2),
    ]
    async with GeminiLiveEmulator(script, auto_resumption=True) as emu:
        first = await _open(emu)
        assert await _recv(first) == {"setupComplete": {}}
        await _audio(first, 4)
        assert (await _recv(first))["toolCall"]["functionCalls"][0]["id"] == "t1"
        # While the call is open the state is not resumable, and no handle is given.
        assert await _recv(first) == {"sessionResumptionUpdate": {"resumable": False}}
        answer = {"functionResponses": [{"id": "t1", "name": "book", "response": {"ok": 1}}]}
        await first.send(json.dumps({"toolResponse": answer}))
        after_answer = (await _recv(first))["sessionResumptionUpdate"]
        assert after_answer["resumable"] is True
        assert "turnComplete" in (await _recv(first))["serverContent"]
        after_turn = (await _recv(first))["sessionResumptionUpdate"]["newHandle"]
        # Audio after the last handle is not part of what that handle restores.
        await _audio(first, 10)
        await emu.wait_until(lambda e: e.session_state().audio_bytes == 14)

        # A resume while the first socket is open is refused, as is a handle never issued.
        early = await _open(emu, after_turn)
        assert await _refusal(early) == RESUME_WHILE_OPEN[0]
        await first.close()
        bogus = await _open(emu, "not-a-handle")
        assert await _refusal(bogus) == UNKNOWN_HANDLE[0]

        second = await _open(emu, after_turn)
        assert await _recv(second) == {"setupComplete": {}}
        await _audio(second, 2)
        await emu.finished()
        await second.close()

    assert emu.session_count == 1
    state = emu.session_state()
    assert state.audio_bytes == 4 + 2
    assert state.answered_tool_calls == ["t1"]
    assert state.open_tool_calls == []
    assert [code for _, code in emu.refused] == [RESUME_WHILE_OPEN[0], UNKNOWN_HANDLE[0]]
