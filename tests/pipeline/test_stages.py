import pytest

from config.settings import ConfigError, load_settings
from pipeline.stages import StageError, make_llm, make_vad
from tools.catalog import default_registry
from tools.context import ToolMode


def _settings(**pipeline):
    return load_settings(
        env_file=None, pipeline=pipeline, google={"api_key": "test-key", "model": "models/x"}
    )


def test_silero_vad_uses_the_configured_parameters():
    from pipecat.audio.vad.silero import SileroVADAnalyzer

    vad = make_vad(_settings(vad="silero", vad_confidence=0.6, vad_stop_secs=0.3))
    assert isinstance(vad, SileroVADAnalyzer)
    assert vad.params.confidence == 0.6 and vad.params.stop_secs == 0.3


def test_vad_off_gives_none():
    assert make_vad(_settings(vad="off")) is None


def test_unknown_stage_value_stops_start_up_with_the_options(monkeypatch):
    monkeypatch.setenv("ELO_PIPELINE__VAD", "webrtcvad")
    with pytest.raises(ConfigError) as err:
        load_settings(env_file=None)
    assert "ELO_PIPELINE__VAD" in str(err.value) and "'silero' or 'off'" in str(err.value)


def test_gemini_live_gets_tools_instruction_and_local_vad_setting(clinic):
    from pipecat.services.google.gemini_live.llm import GeminiLiveLLMService

    registry = default_registry()
    tools = registry.tools_schema(clinic, mode=ToolMode.CALL, expose_confidential=False)
    llm = make_llm(
        _settings(vad="silero"), tools=tools, system_instruction="Be Elo.", language="sq-AL"
    )
    assert isinstance(llm, GeminiLiveLLMService)
    assert llm._settings.system_instruction == "Be Elo."
    assert llm._settings.model == "models/x"
    assert llm._settings.vad.disabled is True  # Silero drives turns
    off = make_llm(_settings(vad="off"), tools=tools, system_instruction="x", language="en")
    assert off._settings.vad.disabled is False


def test_gemini_without_key_is_a_clear_error(clinic):
    settings = load_settings(env_file=None)
    tools = default_registry().tools_schema(clinic, expose_confidential=False)
    with pytest.raises(StageError, match="ELO_GOOGLE__API_KEY"):
        make_llm(settings, tools=tools, system_instruction="x", language="sq")


def test_gemini_live_resumes_sessions_and_tolerates_slow_pongs(clinic):
    from pipeline.gemini import ResilientGeminiLive
    from pipeline.stages import CONNECT_SHARE, WS_PING_TIMEOUT_SECS

    tools = default_registry().tools_schema(clinic, mode=ToolMode.CALL, expose_confidential=False)
    settings = _settings(vad="silero")
    llm = make_llm(settings, tools=tools, system_instruction="x", language="sq-AL")
    assert isinstance(llm, ResilientGeminiLive)
    assert llm._connect_budget == CONNECT_SHARE * settings.pipeline.first_audio_timeout_secs
    # What google-genai hands to websockets' connect for the Live socket.
    ws_args = llm._client._api_client._websocket_ssl_ctx
    assert ws_args["ping_timeout"] == WS_PING_TIMEOUT_SECS
    assert "ssl" in ws_args
