import jwt
import pytest

from app.preflight import missing_livekit_settings
from config.settings import load_settings
from pipeline.file_transport import WavFileTransport
from pipeline.stages import StageError
from pipeline.transports import make_transport, mint_agent_token


def _livekit(**values):
    return load_settings(env_file=None, livekit=values)


def test_agent_token_grants_only_the_named_room():
    settings = _livekit(url="wss://lk.example", api_key="APIkey", api_secret="s" * 32)
    token = mint_agent_token(settings.livekit, room="call-42")
    claims = jwt.decode(token, "s" * 32, algorithms=["HS256"])
    assert claims["iss"] == "APIkey" and claims["sub"] == "elo-agent"
    assert claims["video"]["room"] == "call-42" and claims["video"]["roomJoin"] is True
    assert claims["video"]["agent"] is True
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, "t" * 32, algorithms=["HS256"])


def test_missing_credentials_are_named_without_values():
    settings = _livekit(url="", api_key="", api_secret="topsecret-value")
    assert missing_livekit_settings(settings.livekit) == [
        "ELO_LIVEKIT__URL",
        "ELO_LIVEKIT__API_KEY",
    ]
    with pytest.raises(StageError) as err:
        make_transport(settings)
    message = str(err.value)
    assert "ELO_LIVEKIT__URL" in message and "make demo" in message
    assert "topsecret" not in message


def test_livekit_transport_is_built_for_the_room_without_connecting():
    from pipecat.transports.livekit.transport import LiveKitTransport

    settings = _livekit(url="ws://127.0.0.1:1", api_key="k", api_secret="s" * 32, room="elo")
    transport = make_transport(settings, room="call-7")
    assert isinstance(transport, LiveKitTransport)


def test_file_transport_needs_both_paths(tmp_path):
    settings = load_settings(env_file=None, pipeline={"transport": "file"})
    with pytest.raises(StageError, match="--input"):
        make_transport(settings, input_path=tmp_path / "in.wav")


def test_file_transport_from_settings(tmp_path):
    import wave

    caller = tmp_path / "in.wav"
    with wave.open(str(caller), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(bytes(1600))
    settings = load_settings(env_file=None, pipeline={"transport": "file"})
    transport = make_transport(settings, input_path=caller, output_path=tmp_path / "out.wav")
    assert isinstance(transport, WavFileTransport)
    assert transport.input_sample_rate == 8000 and transport.input_seconds == pytest.approx(0.1)


def test_webrtc_transport_needs_a_connection():
    settings = load_settings(env_file=None, pipeline={"transport": "webrtc"})
    with pytest.raises(StageError, match="browser connection"):
        make_transport(settings)
