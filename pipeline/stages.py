"""Stage factories: one function per stage kind, choosing the implementation from settings.

Swapping a stage is a settings change (``ELO_PIPELINE__VAD=off``, ``ELO_PIPELINE__LLM=...``), not
a code change. Each branch imports its implementation, so an unused stage costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from config.settings import AppSettings
from config.settings_call import LlmKind, TurnStopKind, VadKind

if TYPE_CHECKING:
    from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
    from pipecat.audio.vad.vad_analyzer import VADAnalyzer
    from pipecat.services.llm_service import LLMService
    from pipecat.turns.user_turn_strategies import UserTurnStrategies


# Share of the first-audio budget the model connection may take, retries included.
CONNECT_SHARE = 0.6
# How long the model's websocket may leave a keepalive ping unanswered.
WS_PING_TIMEOUT_SECS = 60.0


class StageError(Exception):
    """A stage cannot be built from the settings; the message is one line for a person."""


def make_vad(settings: AppSettings) -> VADAnalyzer | None:
    """The local voice-activity analyzer for the user aggregator, or None when turned off."""
    pipeline = settings.pipeline
    match pipeline.vad:
        case VadKind.SILERO:
            from pipecat.audio.vad.silero import SileroVADAnalyzer
            from pipecat.audio.vad.vad_analyzer import VADParams

            return SileroVADAnalyzer(
                sample_rate=pipeline.input_sample_rate,
                params=VADParams(
                    confidence=pipeline.vad_confidence,
                    start_secs=pipeline.vad_start_secs,
                    stop_secs=pipeline.vad_stop_secs,
                    min_volume=pipeline.vad_min_volume,
                ),
            )
        case VadKind.OFF:
            return None
    raise StageError(f"unknown VAD {pipeline.vad!r}; options: {', '.join(VadKind)}")


def make_turn_strategies(settings: AppSettings) -> UserTurnStrategies:
    """How the user aggregator decides that the caller's turn started and ended.

    A turn starts when the local VAD hears speech. It ends (and the model gets ``activityEnd``)
    either after ``vad_stop_secs`` of silence, or when Pipecat's Smart Turn model judges it
    finished, waiting up to ``smart_turn_fallback_secs`` of silence when it judges it unfinished.
    ``bench/turns.py`` measures both on the committed corpus (docs/benchmarks.md, "Turn ends").

    Both stop strategies are built with ``wait_for_transcript=False``: Gemini Live hears the
    audio itself, so no transcript gates the turn (Pipecat's ``LLMContextAggregatorPair`` would
    flip it too, with a warning, once the realtime service announces itself).
    """
    from pipecat.turns.user_start import VADUserTurnStartStrategy
    from pipecat.turns.user_turn_strategies import UserTurnStrategies

    pipeline = settings.pipeline
    match pipeline.turn_stop:
        case TurnStopKind.VAD:
            from pipecat.turns.user_stop import SpeechTimeoutUserTurnStopStrategy

            # The VAD already waited vad_stop_secs of silence: end the turn right then.
            stop: Any = SpeechTimeoutUserTurnStopStrategy(
                user_speech_timeout=0.0, wait_for_transcript=False
            )
            # Its warning that stop_secs differs from 0.2 s is about STT latency tables
            # (_handle_vad_user_stopped_speaking in Pipecat 1.14); no STT gates Elo's turns, so
            # it would only log a misleading line per call.
            stop._stop_secs_warned = True
        case TurnStopKind.SMART_TURN:
            from pipecat.audio.turn.smart_turn.base_smart_turn import SmartTurnParams
            from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import (
                LocalSmartTurnAnalyzerV3,
            )
            from pipecat.turns.user_stop import TurnAnalyzerUserTurnStopStrategy

            analyzer = LocalSmartTurnAnalyzerV3(
                params=SmartTurnParams(stop_secs=pipeline.smart_turn_fallback_secs)
            )
            stop = TurnAnalyzerUserTurnStopStrategy(
                turn_analyzer=analyzer, wait_for_transcript=False
            )
        case _:
            raise StageError(
                f"unknown turn stop {pipeline.turn_stop!r}; options: {', '.join(TurnStopKind)}"
            )
    return UserTurnStrategies(start=[VADUserTurnStartStrategy()], stop=[stop])


def make_llm(
    settings: AppSettings,
    *,
    tools: ToolsSchema,
    system_instruction: str,
    language: str,
    http_client_args: dict[str, Any] | None = None,
) -> LLMService:
    """The speech-to-speech model service with Elo's tools and the call's instruction.

    Args:
        settings: Application settings (model, voice, endpoint, key).
        tools: The tool schemas from the registry; fixed for the call (Gemini Live cannot change
            tools mid-session).
        system_instruction: The call's instruction (see :mod:`pipeline.prompts`).
        language: BCP 47 language of the call; sent as ``speechConfig.languageCode`` only
            when Google lists it for Live (never for Albanian, see README "Languages").
        http_client_args: Extra arguments for the HTTP/websocket client, e.g. an SSL context that
            trusts a private endpoint's certificate.

    Raises:
        StageError: The model service cannot be built (e.g. no API key).
    """
    google = settings.google
    match settings.pipeline.llm:
        case LlmKind.GEMINI_LIVE:
            from google.genai.types import HttpOptions
            from pipecat.services.google.gemini_live.llm import (
                ContextWindowCompressionParams,
                GeminiLiveLLMService,
                GeminiVADParams,
            )

            from pipeline.gemini import ResilientGeminiLive
            from pipeline.models import live_language_code, thinking_model_problem

            key = google.api_key.get_secret_value()
            if not key:
                raise StageError("no Gemini API key: set ELO_GOOGLE__API_KEY")
            if problem := thinking_model_problem(google.model):
                raise StageError(problem)
            options = HttpOptions(
                base_url=str(google.base_url).rstrip("/") if google.base_url else None,
                # Gemini answers websocket pings late while the model thinks (8-30 s measured,
                # aicc2025/sip-to-ai PR 14): websockets' default 20 s ping timeout would drop
                # a healthy call. google-genai passes ws_connect's own arguments through.
                async_client_args={
                    "ping_timeout": WS_PING_TIMEOUT_SECS,
                    **(http_client_args or {}),
                },
            )
            # Upstream's service, plus goAway resumes and a retried first connect (see
            # pipeline.gemini); connecting leaves the model time to speak within the budget.
            return ResilientGeminiLive(
                connect_budget_secs=CONNECT_SHARE * settings.pipeline.first_audio_timeout_secs,
                api_key=key,
                tools=tools,
                http_options=options,
                settings=GeminiLiveLLMService.Settings(
                    model=google.model,
                    voice=google.voice,
                    system_instruction=system_instruction,
                    # Only a code Google lists for Live: none for Albanian, which the system
                    # instruction asks for instead (pipeline.models.live_language_code).
                    language=live_language_code(language),
                    # With local VAD on, Silero decides turns; Gemini's own VAD would race it.
                    vad=GeminiVADParams(disabled=settings.pipeline.vad is not VadKind.OFF),
                    # Without compression a Live session ends after ~10-15 minutes.
                    context_window_compression=ContextWindowCompressionParams(enabled=True),
                ),
            )
    raise StageError(f"unknown LLM {settings.pipeline.llm!r}; options: {', '.join(LlmKind)}")
