"""What Elo needs to know about a Gemini Live model id, its languages and its setup refusals.

Pure functions, no I/O. Pipecat's own gating on the model id (``GeminiLiveLLMService``'s
``_gemini_version``, ``_supports_non_blocking_tools``, ``_tools_default_to_non_blocking``,
``_expects_interaction_status``) stays the source of truth for what it sends; this module only
answers Elo's own questions: which setting a refused setup points at, which ``language_code`` may
be sent, and whether a configured thinking model can run with the installed google-genai.

Sources (read December 2026):

* Current Live models: https://ai.google.dev/gemini-api/docs/models/gemini-3.8-live ("the default
  option for most low-latency voice agent experiences", stable, September 2026) and
  https://ai.google.dev/gemini-api/docs/deprecations (``gemini-3.8-live`` and
  ``gemini-3.8-live-extended-thinking`` released September 15, 2026, no shutdown date announced;
  ``gemini-2.0-flash-live-001`` and ``gemini-live-2.5-flash-preview`` shut down December 9, 2025
  with ``gemini-2.5-flash-native-audio-preview-12-2025`` as their replacement).
* Two Live preview models shut down on November 17, 2026, replaced by ``gemini-3.8-live``
  (https://www.developersdigest.tech/blog/gemini-live-tts-retirement-november-2026, October 2026).
"""

from __future__ import annotations

import re
from enum import StrEnum

# Elo's default: the current stable Live model (and Pipecat 1.14's own default).
DEFAULT_LIVE_MODEL = "models/gemini-3.8-live"
# The 2.5 native-audio family, still selectable with ELO_GOOGLE__MODEL.
NATIVE_AUDIO_25_MODEL = "models/gemini-2.5-flash-native-audio-preview-12-2025"

# The language codes Pipecat 1.14 maps a language to for Gemini Live
# (``language_to_gemini_language``'s verified map, pipecat/services/google/gemini_live/llm.py
# l. 165-255), by primary subtag. Albanian is in none of Google's Live language lists, so it has
# no entry: an ``sq`` call sends no ``speechConfig.languageCode`` and the system instruction
# (pipeline/prompts/sq.md) tells the model to speak Albanian. README, "Languages".
_LIVE_LANGUAGE_CODES = {
    "ar": "ar-XA",
    "bn": "bn-IN",
    "de": "de-DE",
    "en": "en-US",
    "es": "es-ES",
    "fr": "fr-FR",
    "gu": "gu-IN",
    "hi": "hi-IN",
    "id": "id-ID",
    "it": "it-IT",
    "ja": "ja-JP",
    "kn": "kn-IN",
    "ko": "ko-KR",
    "ml": "ml-IN",
    "mr": "mr-IN",
    "nl": "nl-NL",
    "pl": "pl-PL",
    "ru": "ru-RU",
    "ta": "ta-IN",
    "te": "te-IN",
    "th": "th-TH",
    "tr": "tr-TR",
    "vi": "vi-VN",
}
# Full tags Pipecat maps as themselves (the regional variants of the list above).
_LIVE_REGIONAL = frozenset({"en-US", "en-AU", "en-GB", "en-IN", "es-US", "fr-CA", "pt-BR"})


class Family(StrEnum):
    """The Live protocol family of a model id."""

    GEMINI_3 = "3.x"
    GEMINI_2 = "2.x"
    UNKNOWN = "unknown"


def gemini_version(model: str) -> tuple[int, int] | None:
    """Major and minor version in a model id, read as Pipecat 1.14 reads it; None if absent.

    Same pattern as ``GeminiLiveLLMService._gemini_version`` so Elo and Pipecat never disagree
    on which family a configured id belongs to.
    """
    match = re.search(r"gemini(?:-[a-z]+)*-(\d+)(?:\.(\d+))?", model)
    if not match:
        return None
    return (int(match.group(1)), int(match.group(2) or 0))


def family(model: str) -> Family:
    """The protocol family of ``model`` (``models/gemini-3.8-live`` is 3.x)."""
    version = gemini_version(model)
    if version is None:
        return Family.UNKNOWN
    return Family.GEMINI_3 if version[0] >= 3 else Family.GEMINI_2


def is_thinking_model(model: str) -> bool:
    """Whether ``model`` is a Live thinking variant (3.8+, ``...thinking...``).

    Such a model needs a thinking level and reports ``interaction_status`` (Pipecat's
    ``_expects_interaction_status``).
    """
    version = gemini_version(model)
    return "thinking" in model and version is not None and version >= (3, 8)


def thinking_model_problem(model: str) -> str | None:
    """Why a configured thinking model cannot run with the installed google-genai, or None.

    Pipecat sets the thinking level a Live thinking model requires (``_resolved_thinking_config``)
    only when google-genai's ``ThinkingConfig`` has ``thinking_level``, and reads the end of a
    thinking turn from ``LiveServerContent.interaction_status``; without either the server
    refuses the setup or one reply splits into several turns.
    """
    if not is_thinking_model(model):
        return None
    from google.genai.types import LiveServerContent, ThinkingConfig

    missing = [
        name
        for name, fields in (
            ("ThinkingConfig.thinking_level", ThinkingConfig.model_fields),
            ("LiveServerContent.interaction_status", LiveServerContent.model_fields),
        )
        if name.split(".")[1] not in fields
    ]
    if not missing:
        return None
    return (
        f"ELO_GOOGLE__MODEL={model} is a thinking model, but the installed google-genai lacks "
        f"{', '.join(missing)}: upgrade google-genai or choose {DEFAULT_LIVE_MODEL}"
    )


def live_language_code(language: str) -> str | None:
    """The ``speechConfig.languageCode`` to send for a call's BCP 47 language, or None.

    Only codes Pipecat's verified map produces are sent; any other language (Albanian: ``sq``,
    ``sq-AL``) sends none, so the server never sees a code it does not list.
    """
    tag = language.strip()
    if tag in _LIVE_REGIONAL:
        return tag
    return _LIVE_LANGUAGE_CODES.get(tag.split("-")[0].lower())


def setup_refusal_setting(reason: str) -> str:
    """The setting a refused setup's close reason points at.

    Reason texts of the real service: "API key not valid. Please pass a valid API key." (1008)
    and "API key expired. Please renew the API key." (1007, yagudaev/voiceclaw PR 155);
    "models/X is not found for API version v1beta, or is not supported for bidiGenerateContent"
    (1008, a logged report quoted in devtools/gemini_protocol.py); "Request contains an invalid
    argument." (1007, pipecat issue 4403), a setup the model does not accept.
    """
    text = reason.lower()
    if "api key" in text or "permission" in text or "unauthenticated" in text:
        return "ELO_GOOGLE__API_KEY"
    return "ELO_GOOGLE__MODEL"
