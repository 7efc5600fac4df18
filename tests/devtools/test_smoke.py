"""The smoke test program (devtools/smoke.py) against the local Gemini emulator and LiveKit fake.

``make smoke`` runs as a separate process, as an operator runs it, with its endpoint pointed at the
emulator (``ELO_GOOGLE__BASE_URL``) and the emulator's CA trusted through ``--ca-file``. The dial
runs in this process, with a WAV file standing in for the phone's audio (the LiveKit fake has no
media server).
"""

from __future__ import annotations

import asyncio
import io
import os
import sys
from pathlib import Path

import pytest

from config.settings import load_settings
from devtools.gemini_emulator import (
    GeminiLiveEmulator,
    input_transcription,
    model_audio,
    output_transcription,
    refuse,
    tool_call,
    turn_complete,
    wait_for_audio,
)
from devtools.livekit_fake import FakeLiveKitServer, SipScript
from devtools.rehearsal import greeting
from devtools.smoke import CALLER, main, smoke_settings
from devtools.smoke_dial import dial_call
from devtools.smoke_probe import SmokeFailed
from pipeline.file_transport import WavFileTransport

ROOT = Path(__file__).resolve().parents[2]
QUESTION = "Hello, do you have any free appointments tomorrow morning?"
PHONE = "+355691234567"
KEY, SECRET, TRUNK = "smoke-key", "smoke-secret-long-enough-for-hs256", "ST_smoke"


def _asks_for_slots(*, tool: bool = True) -> list:
    """Elo greets, hears the caller, (checks the slots,) answers.

    The emulator's ``wait_for_audio`` also waits for the ``activityEnd`` closing the caller's turn
    (Elo's setup turns the server's activity detection off), as the real model answers only then.
    """
    slots = tool_call(
        "check_available_slots",
        {"preferred_date": "tomorrow 09:00", "service_type": "checkup"},
        id="slots",
        timeout=20,
    )
    return [
        *greeting(),
        wait_for_audio(seconds=1.5, timeout=30),
        input_transcription(QUESTION),
        *([slots] if tool else []),
        model_audio(0.6),
        output_transcription("Tomorrow at nine is free."),
        turn_complete(),
    ]


async def _run_smoke(emu: GeminiLiveEmulator, tmp_path: Path, **env: str) -> tuple[int, str]:
    ca = tmp_path / "ca.pem"
    ca.write_bytes(emu.ca_pem)
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ELO_")},
        "ELO_GOOGLE__API_KEY": "smoke-test-key-1234",
        "ELO_GOOGLE__BASE_URL": emu.base_url,
        "PYTHONPATH": str(ROOT),
        "TMPDIR": str(tmp_path),
        **env,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "devtools.smoke",
        "--ca-file",
        str(ca),
        cwd=tmp_path,  # no .env here
        env=environ,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=180)
    return process.returncode or 0, out.decode()


@pytest.mark.slow
@pytest.mark.asyncio
async def test_smoke_passes_and_prints_the_latency(tmp_path: Path) -> None:
    async with GeminiLiveEmulator(_asks_for_slots()) as emu:
        code, out = await _run_smoke(emu, tmp_path)
        await emu.finished(timeout=5)
    assert code == 0, out
    lines = out.strip().splitlines()
    assert any(line.startswith("smoke: greeting   ok") for line in lines), out
    assert "smoke: tool call  ok  check_available_slots answered" in lines, out
    reply = next(line for line in lines if line.startswith("smoke: reply      ok"))
    latency = float(reply.split("response latency ")[1].split(" s")[0])
    assert 0 < latency < 30
    assert any(line.startswith("smoke: passed: time to greeting") for line in lines), out
    assert "smoke-test-key-1234" not in out
    # The caller really reached the model: the question's audio, after Elo's greeting.
    assert emu.audio_bytes > 16_000 * 2
    assert [f.name for f in emu.function_responses] == ["check_available_slots"]


@pytest.mark.slow
@pytest.mark.asyncio
async def test_a_reply_without_a_tool_call_fails_the_tool_check(tmp_path: Path) -> None:
    async with GeminiLiveEmulator(_asks_for_slots(tool=False)) as emu:
        code, out = await _run_smoke(emu, tmp_path)
    assert code == 1, out
    last = out.strip().splitlines()[-1]
    assert last.startswith("smoke: FAILED tool call:"), out


@pytest.mark.slow
@pytest.mark.asyncio
async def test_a_refused_setup_fails_the_greeting_check(tmp_path: Path) -> None:
    async with GeminiLiveEmulator([refuse()]) as emu:
        code, out = await _run_smoke(emu, tmp_path, ELO_PIPELINE__FIRST_AUDIO_TIMEOUT_SECS="5")
    assert code == 1, out
    last = out.strip().splitlines()[-1]
    assert last.startswith("smoke: FAILED greeting:"), out
    assert "smoke-test-key-1234" not in out


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        ([], "smoke: ELO_GOOGLE__API_KEY is not set; skipping (nothing was called)"),
        (
            ["dial", PHONE],
            "smoke-dial: ELO_GOOGLE__API_KEY, ELO_LIVEKIT__URL, ELO_LIVEKIT__API_KEY,"
            " ELO_LIVEKIT__API_SECRET, ELO_LIVEKIT__SIP_TRUNK_ID are not set; skipping"
            " (nothing was called)",
        ),
    ],
)
def test_without_keys_it_says_so_and_exits_0(
    argv: list[str], line: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    assert main(argv) == 0
    assert capsys.readouterr().out == line + "\n"


def _dial_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    for name, value in {
        "ELO_GOOGLE__API_KEY": "smoke-test-key-1234",
        # Nothing listens here: the checks below must stop before any request.
        "ELO_LIVEKIT__URL": "http://127.0.0.1:9",
        "ELO_LIVEKIT__API_KEY": KEY,
        "ELO_LIVEKIT__API_SECRET": SECRET,
        "ELO_LIVEKIT__SIP_TRUNK_ID": TRUNK,
    }.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize("number", ["069 123 4567", "+35512", None])
def test_dial_wants_an_e164_number(
    number: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    _dial_env(monkeypatch, tmp_path)
    assert main(["dial", "--yes", *([number] if number else [])]) == 2
    assert capsys.readouterr().out.startswith("smoke-dial: ")


def test_dial_asks_first_and_calls_nobody_without_a_yes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    _dial_env(monkeypatch, tmp_path)
    monkeypatch.setattr(sys, "stdin", io.StringIO("n\n"))
    assert main(["dial", PHONE]) == 2
    out = capsys.readouterr().out
    assert "place ONE real call to +355*******67 (a number you own)" in out
    assert "nothing was called" in out
    assert PHONE not in out


def _dial_settings(emu: GeminiLiveEmulator, livekit: FakeLiveKitServer, tmp_path: Path):
    base = load_settings(
        env_file=None,
        google={"api_key": "k", "base_url": emu.base_url},
        livekit={"url": livekit.url, "api_key": KEY, "api_secret": SECRET, "sip_trunk_id": TRUNK},
        pipeline={"language": "en"},
    )
    return smoke_settings(base, tmp_path)


def _phone_audio(tmp_path: Path):
    # The fake has no media: the callee's side is the recorded caller, after Elo's greeting.
    return lambda room: WavFileTransport(
        input_path=CALLER, output_path=tmp_path / f"{room}.wav", delay_secs=2.5
    )


@pytest.mark.slow
@pytest.mark.asyncio
async def test_dial_of_an_answered_call_passes(tmp_path: Path) -> None:
    script = [
        *_asks_for_slots(),
        tool_call("end_call", {"reason": "completed"}, id="bye", timeout=20),
        model_audio(0.4),
        turn_complete(),
    ]
    lines: list[str] = []
    async with (
        GeminiLiveEmulator(script) as emu,
        FakeLiveKitServer(KEY, SECRET) as livekit,
    ):
        livekit.script(PHONE, SipScript("answered", ring_secs=0.2))
        await dial_call(
            _dial_settings(emu, livekit, tmp_path),
            PHONE,
            say=lines.append,
            transport_factory=_phone_audio(tmp_path),
            http_client_args={"ssl": emu.ssl_context},
        )
        await emu.finished(timeout=5)
    assert lines[0].startswith("dial       ok  200 OK after"), lines
    assert lines[1] == "answer     ok  the phone was answered; Elo greets"
    assert any(line.startswith("greeting   ok  Elo spoke") for line in lines), lines
    assert lines[-1].startswith("end        ok  completed (completed) after"), lines
    (dial,) = livekit.calls_to(PHONE)
    assert dial.body["sip_trunk_id"] == TRUNK
    assert livekit.rooms == {}  # the call's room was deleted


@pytest.mark.slow
@pytest.mark.asyncio
async def test_dial_of_a_busy_line_reports_busy(tmp_path: Path) -> None:
    lines: list[str] = []
    async with GeminiLiveEmulator([]) as emu, FakeLiveKitServer(KEY, SECRET) as livekit:
        livekit.script(PHONE, SipScript("busy", ring_secs=0.2))
        with pytest.raises(SmokeFailed) as failed:
            await dial_call(
                _dial_settings(emu, livekit, tmp_path),
                PHONE,
                say=lines.append,
                transport_factory=_phone_audio(tmp_path),
                http_client_args={"ssl": emu.ssl_context},
            )
    assert failed.value.check == "answer"
    assert str(failed.value) == "not answered: busy (486 Busy Here)"
    assert lines == [lines[0]] and lines[0].startswith("dial       ok  486 Busy Here")
    assert livekit.rooms == {}


def test_a_ca_file_is_only_for_a_private_endpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ELO_GOOGLE__API_KEY", "smoke-test-key-1234")
    (tmp_path / "ca.pem").write_text("")
    assert main(["--ca-file", str(tmp_path / "ca.pem")]) == 2
    out = capsys.readouterr().out
    assert out == "smoke: --ca-file is for a private endpoint: set ELO_GOOGLE__BASE_URL\n"


def test_a_bad_setting_is_a_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ELO_GOOGLE__API_KEY", "smoke-test-key-1234")
    monkeypatch.setenv("ELO_PIPELINE__VAD_STOP_SECS", "soon")
    assert main([]) == 2
    out = capsys.readouterr().out
    assert out.startswith("smoke: invalid configuration: ELO_PIPELINE__VAD_STOP_SECS")
    assert "smoke-test-key-1234" not in out
