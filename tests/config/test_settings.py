"""Settings: defaults, ELO_* variables, one-line errors naming the variable, secrets, .env."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import ConfigError, env_name, load_settings
from config.settings_groups import LogFormat

SECRET = "AIzaSy-TOP-SECRET-0123456789"


def test_defaults_are_valid() -> None:
    settings = load_settings(env_file=None)
    assert settings.database.path == Path("data/elo.db")
    assert settings.database.busy_timeout_ms == 5000
    assert settings.security.expose_stats_to_model is False
    assert settings.clinic.profile_path.is_file()
    assert settings.validation.allowed_phone_regions == ["AL"]
    assert settings.validation.default_phone_region == "AL"
    assert settings.search.url is None
    assert settings.logging.level == "INFO"
    assert settings.logging.mask_pii is True
    assert settings.google.api_key.get_secret_value() == ""
    assert settings.pipeline.input_sample_rate == 16000


def test_environment_variables_use_prefix_and_nested_delimiter(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env = {
        "ELO_DATABASE__PATH": str(tmp_path / "clinic.db"),
        "ELO_DATABASE__BUSY_TIMEOUT_MS": "250",
        "ELO_SECURITY__EXPOSE_STATS_TO_MODEL": "true",
        "ELO_CLINIC__BOOKING_HORIZON_DAYS": "30",
        "ELO_SEARCH__URL": "http://127.0.0.1:8888/search",
        "ELO_LOGGING__LEVEL": "debug",
        "ELO_LOGGING__FILE": "none",
        "ELO_LOGGING__CONSOLE_FORMAT": "json",
        "ELO_PIPELINE__INPUT_SAMPLE_RATE": "8000",
        "ELO_LIVEKIT__URL": "wss://livekit.example",
        # Without the prefix, or with a single underscore, nothing is read.
        "DATABASE__BUSY_TIMEOUT_MS": "999",
        "ELO_DATABASE_BUSY_TIMEOUT_MS": "999",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = load_settings(env_file=None)
    assert settings.database.path == tmp_path / "clinic.db"
    assert settings.database.busy_timeout_ms == 250
    assert settings.security.expose_stats_to_model is True
    assert settings.clinic.booking_horizon_days == 30
    assert str(settings.search.url) == "http://127.0.0.1:8888/search"
    assert settings.logging.level == "DEBUG"
    assert settings.logging.file is None
    assert settings.logging.console_format is LogFormat.JSON
    assert settings.pipeline.input_sample_rate == 8000
    assert settings.livekit.url == "wss://livekit.example"


def test_empty_variable_means_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """A blank line copied from .env.example must not break or change anything."""
    monkeypatch.setenv("ELO_DATABASE__BUSY_TIMEOUT_MS", "")
    monkeypatch.setenv("ELO_VALIDATION__ALLOWED_PHONE_REGIONS", "")
    settings = load_settings(env_file=None)
    assert settings.database.busy_timeout_ms == 5000
    assert settings.validation.allowed_phone_regions == ["AL"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("AL,XK", ["AL", "XK"]), (" al , xk ,", ["AL", "XK"]), ("XK", ["XK"])],
)
def test_region_list_is_comma_separated(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: list[str]
) -> None:
    monkeypatch.setenv("ELO_VALIDATION__ALLOWED_PHONE_REGIONS", raw)
    assert load_settings(env_file=None).validation.allowed_phone_regions == expected


@pytest.mark.parametrize(
    ("variable", "value", "fragment"),
    [
        ("ELO_DATABASE__BUSY_TIMEOUT_MS", "50", "greater than or equal to 100"),
        ("ELO_DATABASE__BUSY_TIMEOUT_MS", "61000", "less than or equal to 60000"),
        ("ELO_DATABASE__BUSY_TIMEOUT_MS", "abc", "valid integer"),
        ("ELO_PIPELINE__INPUT_SAMPLE_RATE", "44100", "8000 or 16000"),
        ("ELO_PIPELINE__OUTPUT_SAMPLE_RATE", "44100", "24000"),
        ("ELO_VALIDATION__ALLOWED_PHONE_REGIONS", "AL,ZZ", "ZZ"),
        ("ELO_VALIDATION__ALLOWED_PHONE_REGIONS", ",", "at least 1"),
        ("ELO_VALIDATION__DEFAULT_PHONE_REGION", "Albania", "unknown region"),
        ("ELO_SEARCH__URL", "not a url", "URL"),
        ("ELO_SEARCH__URL", "ftp://127.0.0.1/search", "http"),
        ("ELO_GOOGLE__BASE_URL", "localhost:9999", "URL"),
        ("ELO_LIVEKIT__URL", "livekit.example", "wss://"),
        ("ELO_LOGGING__LEVEL", "LOUD", "DEBUG"),
        ("ELO_LOGGING__CONSOLE_FORMAT", "xml", "text"),
        ("ELO_CLINIC__BOOKING_HORIZON_DAYS", "0", "greater than or equal to 1"),
        ("ELO_SECURITY__EXPOSE_STATS_TO_MODEL", "perhaps", "boolean"),
        ("ELO_CALLING__WINDOW_DAYS", "mon,funday", "fun"),
        ("ELO_CALLING__WINDOW_DAYS", ",", "at least 1"),
        ("ELO_CALLING__WINDOW_INTERVALS", "10-13", "not an interval"),
        ("ELO_CALLING__WINDOW_INTERVALS", "10:00-13:00,", "not an interval"),
        ("ELO_CALLING__WINDOW_INTERVALS", "13:00-10:00", "ends before it starts"),
        ("ELO_CALLING__WINDOW_INTERVALS", "10:00-10:00", "ends before it starts"),
        ("ELO_CALLING__WINDOW_INTERVALS", "10:00-25:00", "invalid time"),
        ("ELO_CALLING__WINDOW_INTERVALS", "10:60-11:00", "invalid time"),
        ("ELO_CALLING__WINDOW_INTERVALS", "10:00-24:30", "invalid time"),
        ("ELO_CALLING__WINDOW_INTERVALS", "10:00-13:00,12:00-14:00", "overlaps"),
        ("ELO_CALLING__WINDOW_INTERVALS", "14:00-20:00,10:00-13:00", "overlaps"),
        ("ELO_CALLING__MAX_ATTEMPTS", "0", "greater than or equal to 1"),
        ("ELO_CALLING__ATTEMPTS_WINDOW_DAYS", "0", "greater than or equal to 1"),
        ("ELO_CALLING__REFUSAL_PAUSE_DAYS", "-1", "greater than or equal to 0"),
    ],
)
def test_bad_values_give_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, fragment: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as raised:
        load_settings(env_file=None)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("invalid configuration: ")
    assert f"{variable}: " in message
    assert fragment in message


def test_several_problems_are_reported_together(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELO_DATABASE__BUSY_TIMEOUT_MS", "1")
    monkeypatch.setenv("ELO_LOGGING__LEVEL", "LOUD")
    with pytest.raises(ConfigError) as raised:
        load_settings(env_file=None)
    message = str(raised.value)
    assert "\n" not in message
    assert "ELO_DATABASE__BUSY_TIMEOUT_MS" in message
    assert "ELO_LOGGING__LEVEL" in message


def test_overrides_are_validated_like_the_environment() -> None:
    with pytest.raises(ConfigError, match="ELO_DATABASE__BUSY_TIMEOUT_MS"):
        load_settings(env_file=None, database={"busy_timeout_ms": 1})


@pytest.mark.parametrize(
    ("loc", "name"),
    [
        (("database", "busy_timeout_ms"), "ELO_DATABASE__BUSY_TIMEOUT_MS"),
        (("validation", "allowed_phone_regions", 1), "ELO_VALIDATION__ALLOWED_PHONE_REGIONS"),
        (("google",), "ELO_GOOGLE"),
    ],
)
def test_env_name(loc: tuple[int | str, ...], name: str) -> None:
    assert env_name(loc) == name


def test_secrets_are_hidden_in_str_and_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELO_GOOGLE__API_KEY", SECRET)
    monkeypatch.setenv("ELO_LIVEKIT__API_KEY", SECRET + "-lk")
    monkeypatch.setenv("ELO_LIVEKIT__API_SECRET", SECRET + "-lks")
    settings = load_settings(env_file=None)
    assert settings.google.api_key.get_secret_value() == SECRET
    assert settings.livekit.api_secret.get_secret_value() == SECRET + "-lks"
    for text in (str(settings), repr(settings), repr(settings.google), settings.model_dump_json()):
        assert SECRET not in text


@pytest.mark.parametrize(
    "env",
    [
        # A bad value next to a secret in the same group.
        {"ELO_GOOGLE__API_KEY": SECRET, "ELO_GOOGLE__BASE_URL": "not a url"},
        # The whole group as JSON: an unknown key, a wrong type, and broken JSON.
        {"ELO_GOOGLE": f'{{"api_key": "{SECRET}", "colour": "blue"}}'},
        {"ELO_GOOGLE": f'{{"api_key": "{SECRET}", "voice": 5}}'},
        {"ELO_GOOGLE": f'{{"api_key": "{SECRET}"'},
        {"ELO_LIVEKIT": f'{{"api_secret": "{SECRET}", "url": "{SECRET}"}}'},
    ],
    ids=["sibling", "unknown-key", "wrong-type", "broken-json", "secret-as-url"],
)
def test_secrets_never_appear_in_errors(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as raised:
        load_settings(env_file=None)
    message = str(raised.value)
    assert "\n" not in message
    assert SECRET not in message
    assert "ELO_GOOGLE" in message or "ELO_LIVEKIT" in message


def _write_env(folder: Path, text: str) -> None:
    (folder / ".env").write_text(text, encoding="utf-8")


def test_dotenv_in_working_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    _write_env(
        tmp_path,
        "# comment\nELO_DATABASE__PATH=from-dotenv.db\nELO_LOGGING__LEVEL=warning\n"
        "ELO_DATABASE__BUSY_TIMEOUT_MS=\nUNRELATED=1\n",
    )
    read = load_settings()
    assert read.database.path == Path("from-dotenv.db")
    assert read.logging.level == "WARNING"
    assert read.database.busy_timeout_ms == 5000

    ignored = load_settings(env_file=None)
    assert ignored.database.path == Path("data/elo.db")
    assert ignored.logging.level == "INFO"

    # A real environment variable wins over the file.
    monkeypatch.setenv("ELO_LOGGING__LEVEL", "error")
    assert load_settings().logging.level == "ERROR"


def test_explicit_env_file_and_missing_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    # No ./.env at all: the default still loads.
    assert load_settings().database.path == Path("data/elo.db")
    other = tmp_path / "clinic.env"
    other.write_text("ELO_DATABASE__PATH=other.db\n", encoding="utf-8")
    assert load_settings(env_file=other).database.path == Path("other.db")


def test_bad_value_in_dotenv_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    _write_env(tmp_path, f"ELO_GOOGLE__API_KEY={SECRET}\nELO_PIPELINE__INPUT_SAMPLE_RATE=44100\n")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    message = str(raised.value)
    assert "ELO_PIPELINE__INPUT_SAMPLE_RATE" in message
    assert SECRET not in message
    assert "\n" not in message


def test_dotenv_that_is_not_utf8_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_bytes(b"ELO_LOGGING__LEVEL=\xff\xfe\n")
    with pytest.raises(ConfigError):
        load_settings()
