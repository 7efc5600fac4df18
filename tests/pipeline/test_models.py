"""pipeline.models: model families, Live language codes and setup-refusal settings."""

from __future__ import annotations

import pytest
from pipecat.services.google.gemini_live.llm import GeminiLiveLLMService

from config.settings import load_settings
from pipeline.models import (
    DEFAULT_LIVE_MODEL,
    NATIVE_AUDIO_25_MODEL,
    Family,
    family,
    gemini_version,
    is_thinking_model,
    live_language_code,
    setup_refusal_setting,
    thinking_model_problem,
)

IDS = [
    DEFAULT_LIVE_MODEL,
    NATIVE_AUDIO_25_MODEL,
    "models/gemini-3.8-live-extended-thinking",
    "models/gemini-3.1-flash-live-preview",
    "models/gemini-2.0-flash-live-001",
    "models/emulated",
]


def test_the_default_model_is_the_current_3x_live_model():
    assert load_settings(env_file=None).google.model == DEFAULT_LIVE_MODEL
    assert family(DEFAULT_LIVE_MODEL) is Family.GEMINI_3
    assert family(NATIVE_AUDIO_25_MODEL) is Family.GEMINI_2
    assert family("models/emulated") is Family.UNKNOWN


@pytest.mark.parametrize("model", IDS)
def test_version_is_read_as_pipecat_reads_it(model):
    service = GeminiLiveLLMService(api_key="k", settings=GeminiLiveLLMService.Settings(model=model))
    assert gemini_version(model) == service._gemini_version
    assert is_thinking_model(model) == service._expects_interaction_status


def test_a_thinking_model_runs_with_the_installed_google_genai():
    assert thinking_model_problem("models/gemini-3.8-live-extended-thinking") is None
    assert thinking_model_problem(DEFAULT_LIVE_MODEL) is None


@pytest.mark.parametrize(
    ("language", "code"),
    [
        ("sq", None),
        ("sq-AL", None),
        ("en", "en-US"),
        ("en-GB", "en-GB"),
        ("it", "it-IT"),
        ("it-IT", "it-IT"),
    ],
)
def test_only_listed_languages_get_a_code(language, code):
    assert live_language_code(language) == code


@pytest.mark.parametrize(
    ("reason", "setting"),
    [
        ("API key not valid. Please pass a valid API key.", "ELO_GOOGLE__API_KEY"),
        ("API key expired. Please renew the API key.", "ELO_GOOGLE__API_KEY"),
        (
            "models/gemini-x is not found for API version v1beta, or is not supported for "
            "bidiGenerateContent.",
            "ELO_GOOGLE__MODEL",
        ),
        ("Request contains an invalid argument.", "ELO_GOOGLE__MODEL"),
    ],
)
def test_a_refusal_reason_names_its_setting(reason, setting):
    assert setup_refusal_setting(reason) == setting
