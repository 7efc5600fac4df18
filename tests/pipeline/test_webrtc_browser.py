"""The browser page talks to a real pipecat pipeline over WebRTC, driven in headless Chromium.

The server runs in the test's event loop on an ephemeral 127.0.0.1 port. Each browser
connection runs transport.input() -> _ToneReply -> transport.output(): the processor counts
the microphone frames (Chromium's fake microphone plays a WAV fixture) and answers every one
with 20 ms of a 440 Hz tone. Chromium is driven over the DevTools protocol (websockets), so
no WebDriver is needed; the page's ``window.elo.stats`` (WebRTC getStats) shows what it
received and played.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import websockets
from pipecat.frames.frames import Frame, InputAudioRawFrame, OutputAudioRawFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.workers.runner import WorkerRunner

from config.settings import load_settings
from pipeline.transports import make_transport
from pipeline.webrtc_server import BrowserGuard, bound_port, create_server

CHROMIUM = Path("/usr/bin/chromium")
CALLER_WAV = Path(__file__).parents[1] / "fixtures" / "audio" / "caller_en_16k.wav"
OUT_RATE = 24000
WAIT_SECS = 20.0
TOKEN = "test-token-0123456789"

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs /usr/bin/chromium (apt-get install chromium chromium-driver)",
)


class _ToneReply(FrameProcessor):
    """Counts the caller's audio frames and answers each with as long a 440 Hz tone."""

    def __init__(self) -> None:
        super().__init__()
        self.frames_in = 0
        self.peak_in = 0
        self._phase = 0

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            self.frames_in += 1
            samples = np.frombuffer(frame.audio, dtype=np.int16)
            self.peak_in = max(self.peak_in, int(np.abs(samples.astype(np.int32)).max(initial=0)))
            n = len(samples) * OUT_RATE // frame.sample_rate
            t = (np.arange(n) + self._phase) / OUT_RATE
            self._phase += n
            tone = (8000 * np.sin(2 * math.pi * 440 * t)).astype(np.int16)
            await self.push_frame(OutputAudioRawFrame(tone.tobytes(), OUT_RATE, 1), direction)
            return
        await self.push_frame(frame, direction)


class _DevTools:
    """A minimal Chrome DevTools protocol client for one page."""

    def __init__(self, ws: Any) -> None:
        self._ws = ws
        self._ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        msg_id = next(self._ids)
        await self._ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:  # events for other subscriptions are skipped
            reply = json.loads(await self._ws.recv())
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    async def js(self, expression: str) -> Any:
        result = await self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, userGesture=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")


@contextlib.asynccontextmanager
async def _chromium(user_data_dir: Path) -> AsyncIterator[_DevTools]:
    """Headless Chromium with a fake microphone playing the caller fixture."""
    args = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={CALLER_WAV}",
        "--autoplay-policy=no-user-gesture-required",
        f"--user-data-dir={user_data_dir}",
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        "about:blank",
    ]
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        port_file = user_data_dir / "DevToolsActivePort"
        async with asyncio.timeout(WAIT_SECS):
            while not port_file.exists() or not port_file.read_text().strip():
                if proc.returncode is not None:
                    raise RuntimeError(f"chromium exited with {proc.returncode}")
                await asyncio.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        async with httpx.AsyncClient() as client:
            targets = (await client.get(f"http://127.0.0.1:{port}/json/list")).json()
        page = next(t for t in targets if t["type"] == "page")
        async with websockets.connect(page["webSocketDebuggerUrl"], max_size=None) as ws:
            yield _DevTools(ws)
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), timeout=5)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def _until(check: Any, what: str) -> Any:
    """Polls ``check()`` until it returns something truthy; fails after WAIT_SECS."""
    try:
        async with asyncio.timeout(WAIT_SECS):
            while True:  # the page and the pipeline have no event to wait on
                if value := await check():
                    return value
                await asyncio.sleep(0.1)
    except TimeoutError:
        pytest.fail(f"timed out waiting for {what}")


async def _no_call(connection: Any) -> None:
    raise AssertionError("no call expected")


@pytest.mark.asyncio
async def test_page_and_script_are_served_and_need_nothing_from_the_internet() -> None:
    guard = BrowserGuard(token=TOKEN, allowed_hosts=["elo.test"])
    app = create_server(_no_call, guard=guard, port=0).config.app
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://elo.test"
    ) as client:
        page = await client.get("/")
        script = await client.get("/elo.js")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script src="/elo.js">' in page.text
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    for text in (page.text, script.text):
        assert "http://" not in text
        assert "https://" not in text
        assert "//cdn" not in text


@contextlib.asynccontextmanager
async def _page_server(on_connection: Any) -> AsyncIterator[str]:
    """The browser page's server (token ``TOKEN``) on a free local port, until the block ends.

    Yields:
        The page's address, ``http://127.0.0.1:PORT/``.
    """
    server = create_server(on_connection, guard=BrowserGuard(token=TOKEN), host="127.0.0.1", port=0)
    serving = asyncio.create_task(server.serve())
    try:
        await _until(lambda: _ready(server), "the server to start")
        yield f"http://127.0.0.1:{bound_port(server)}/"
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, timeout=10)


async def _open(page: _DevTools, url: str) -> None:
    """Navigate to ``url`` and wait until the page has loaded its script."""
    await page.call("Page.navigate", url=url)
    await _until(
        lambda: page.js("document.readyState === 'complete' && !!window.elo"),
        "the page to load",
    )


@pytest.mark.asyncio
async def test_offer_without_sdp_is_rejected_and_starts_no_call() -> None:
    guard = BrowserGuard(token=TOKEN, allowed_hosts=["elo.test"])
    app = create_server(_no_call, guard=guard, port=0).config.app
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://elo.test"
    ) as client:
        response = await client.post(
            "/api/offer", json={"type": "offer"}, headers={"Authorization": f"Bearer {TOKEN}"}
        )
    assert response.status_code == 422


@pytest.mark.browser
@needs_chromium
@pytest.mark.asyncio
async def test_browser_page_sends_microphone_and_plays_bot_audio(tmp_path: Path) -> None:
    settings = load_settings(env_file=None, pipeline={"transport": "webrtc"})
    replies: list[_ToneReply] = []
    calls_done = asyncio.Event()

    async def on_connection(connection: Any) -> None:
        transport = make_transport(settings, webrtc_connection=connection)
        reply = _ToneReply()
        replies.append(reply)
        worker = PipelineWorker(
            Pipeline([transport.input(), reply, transport.output()]), cancel_on_idle_timeout=False
        )

        @transport.event_handler("on_client_disconnected")
        async def hung_up(*_: Any) -> None:
            await worker.cancel()

        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(worker)
        try:
            await runner.run()
        finally:
            calls_done.set()

    async with _page_server(on_connection) as base:
        async with _chromium(tmp_path / "chromium") as page:
            await _open(page, f"{base}#token={TOKEN}")
            assert await page.js("document.getElementById('toggle').textContent") == "Start"
            await page.js("document.getElementById('toggle').click()")

            await _until(lambda: _ready(bool(replies) and replies[0].frames_in > 0), "audio in")
            stats = await _until(
                lambda: page.js(
                    "window.elo.stats.bytesReceived > 0 && window.elo.stats.totalAudioEnergy > 0"
                    " && window.elo.stats"
                ),
                "the page to play Elo's audio",
            )
            await _until(lambda: _ready(replies[0].peak_in > 1000), "speech from the microphone")
            assert await page.js("window.elo.state") == "connected"
            assert await page.js("window.elo.error") is None

            await page.js("document.getElementById('toggle').click()")
            assert await page.js("window.elo.state") == "stopped"
            await _until(lambda: _ready(calls_done.is_set()), "the call to end after Stop")

        assert len(replies) == 1
        assert replies[0].frames_in > 0
        assert stats["bytesReceived"] > 0
        assert stats["totalAudioEnergy"] > 0


async def _ready(value: Any) -> Any:
    """Lets synchronous conditions share ``_until`` with page queries."""
    if hasattr(value, "started"):
        return value.started
    return value


@pytest.mark.browser
@needs_chromium
@pytest.mark.asyncio
async def test_page_opened_without_the_token_is_refused_and_says_why(tmp_path: Path) -> None:
    async with _page_server(_no_call) as base:
        async with _chromium(tmp_path / "chromium") as page:
            await _open(page, f"{base}#token=not-the-token")
            await page.js("document.getElementById('toggle').click()")
            await _until(lambda: page.js("window.elo.state === 'error'"), "the refusal")
            status = await page.js("document.getElementById('status').textContent")
        assert "HTTP 401" in status
        assert "valid token" in status
        assert "not-the-token" not in status
