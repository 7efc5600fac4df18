"""Transport factory: LiveKit rooms, the local browser page, or WAV files, chosen by settings.

Each transport it builds is a :class:`~pipeline.call.transport.CallTransport`: it knows how to tell
a call session that the line is ready, the callee came, or the callee left.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.preflight import missing_livekit_settings
from config.settings import AppSettings
from config.settings_call import LiveKitSettings, TransportKind
from pipeline.stages import StageError

if TYPE_CHECKING:
    from pipeline.call.transport import CallTransport

AGENT_IDENTITY = "elo-agent"


def mint_agent_token(
    livekit: LiveKitSettings,
    *,
    room: str,
    identity: str = AGENT_IDENTITY,
    ttl: timedelta = timedelta(hours=2),
) -> str:
    """A LiveKit access token that lets the agent join ``room`` (and only that room).

    Raises:
        StageError: The API key or secret is not set.
    """
    from livekit.api import AccessToken, VideoGrants

    missing = [n for n in missing_livekit_settings(livekit) if n != "ELO_LIVEKIT__URL"]
    if missing:
        raise StageError(f"cannot mint a LiveKit token: set {', '.join(missing)}")
    return (
        AccessToken(livekit.api_key.get_secret_value(), livekit.api_secret.get_secret_value())
        .with_identity(identity)
        .with_name("Elo")
        .with_ttl(ttl)
        .with_grants(VideoGrants(room_join=True, room=room, agent=True))
        .to_jwt()
    )


def _audio_params(settings: AppSettings) -> dict[str, Any]:
    """Audio in and out at the configured rates, shared by the network transports."""
    return {
        "audio_in_enabled": True,
        "audio_in_sample_rate": settings.pipeline.input_sample_rate,
        "audio_out_enabled": True,
        "audio_out_sample_rate": settings.pipeline.output_sample_rate,
    }


def make_transport(
    settings: AppSettings,
    *,
    room: str | None = None,
    input_path: Path | None = None,
    output_path: Path | None = None,
    realtime: bool = True,
    webrtc_connection: Any = None,
    **file_options: Any,
) -> CallTransport:
    """The call's transport, chosen by ``settings.pipeline.transport``.

    Args:
        settings: Application settings.
        room: LiveKit room (defaults to ``ELO_LIVEKIT__ROOM``).
        input_path: The caller's recording, for the file transport.
        output_path: Where Elo's audio goes, for the file transport.
        realtime: File transport pacing (off only in tests).
        webrtc_connection: The browser peer connection, for the webrtc transport.
        **file_options: Extra options for the file transport (e.g. ``on_input_finished``).

    Raises:
        StageError: Required settings or arguments for the chosen transport are missing.
    """
    pipeline = settings.pipeline
    match pipeline.transport:
        case TransportKind.LIVEKIT:
            from pipecat.transports.livekit.transport import LiveKitParams

            from pipeline.livekit_transport import LiveKitCallTransport

            missing = missing_livekit_settings(settings.livekit)
            if missing:
                raise StageError(
                    f"set {', '.join(missing)} to join a LiveKit room (or try `make demo`)"
                )
            name = room or settings.livekit.room
            return LiveKitCallTransport(
                url=settings.livekit.url,
                token=mint_agent_token(settings.livekit, room=name),
                room_name=name,
                params=LiveKitParams(**_audio_params(settings)),
            )
        case TransportKind.WEBRTC:
            from pipecat.transports.base_transport import TransportParams

            from pipeline.webrtc_transport import BrowserCallTransport

            if webrtc_connection is None:
                raise StageError("the webrtc transport needs a browser connection")
            return BrowserCallTransport(
                webrtc_connection=webrtc_connection,
                params=TransportParams(**_audio_params(settings)),
            )
        case TransportKind.FILE:
            from pipeline.file_transport import WavFileTransport

            if input_path is None or output_path is None:
                raise StageError("the file transport needs --input caller.wav and --output elo.wav")
            return WavFileTransport(
                input_path=input_path,
                output_path=output_path,
                out_sample_rate=pipeline.output_sample_rate,
                realtime=realtime,
                **file_options,
            )
    raise StageError(
        f"unknown transport {pipeline.transport!r}; options: {', '.join(TransportKind)}"
    )
