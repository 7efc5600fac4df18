"""Logging: JSON lines with call ids, and no names, phone numbers, emails or secrets in any sink."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from loguru import logger
from pydantic import ValidationError

from config.logs import bind_call, configure_logging, redactor
from config.settings import AppSettings, ConfigError, describe_validation_error, load_settings
from storage import Store
from tools.context import ToolContext
from tools.registry import ToolRegistry

NAME = "Arbër Çela"
PHONE = "069 123 4567"
EMAIL = "arber.cela@example.com"
# Every way the phone number could end up written in a log line.
PHONE_FORMS = ("0691234567", "069 123 4567", "+355691234567", "355691234567", "+355 69 123 4567")
SECRET = "AIzaSy-SECRET-do-not-log-8f3k2"


@pytest.fixture(autouse=True)
def _restore_loguru() -> Iterator[None]:
    """Leave loguru without Elo's sinks (and with a no-op patcher) for the other tests."""
    regions = redactor.phone_regions
    yield
    redactor.phone_regions = regions
    logger.remove()
    logger.configure(patcher=lambda record: None)


def _records(path: Path) -> list[dict[str, Any]]:
    logger.remove()  # closes the file sink, so everything is on disk
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines, "the log file is empty"
    return [json.loads(line) for line in lines]


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _assert_clean(text: str) -> None:
    folded = text.casefold()
    for word in NAME.split():
        assert word.casefold() not in folded, word
    for form in PHONE_FORMS:
        assert form not in text, form
    assert EMAIL not in text
    assert "arber.cela" not in folded


@pytest.mark.asyncio
async def test_a_tool_session_logs_no_personal_data(
    settings: AppSettings,
    registry: ToolRegistry,
    make_context: Callable[..., ToolContext],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # search_web is pointed at a closed local port so the failure (and its warning) is logged too.
    session_settings = load_settings(
        env_file=None,
        database={"path": settings.database.path},
        logging=settings.logging.model_dump(),
        search={"url": f"http://127.0.0.1:{_unused_port()}/search", "timeout_seconds": 2},
    )
    configure_logging(settings.logging)
    log_file = settings.logging.file
    assert log_file is not None

    logger.info("before the call")
    with bind_call("call-123"):
        ctx = make_context(settings=session_settings, call_id="call-123")
        calls: list[tuple[str, Any]] = [
            ("assess_client_needs", {"dental_concerns": "më dhemb dhëmbi"}),
            ("check_available_slots", {"preferred_date": "2026-12-02"}),
            (
                "schedule_appointment",
                {
                    "patient_name": NAME,
                    "phone_number": PHONE,
                    "preferred_date": "2026-12-02T10:00",
                    "service_type": "checkup",
                },
            ),
            (
                "schedule_follow_up",
                {
                    "client_name": NAME,
                    "phone_number": PHONE,
                    "preferred_time": "2026-12-03",
                    "reason": f"call {NAME} back about the price",
                },
            ),
            ("search_web", {"query": f"a trajtoni fëmijë, {EMAIL}"}),
            # Bad calls: a refused foreign number, broken JSON, a tool the call may not use.
            (
                "schedule_appointment",
                {
                    "patient_name": NAME,
                    "phone_number": "+44 20 7946 0958",
                    "preferred_date": "2026-12-02T11:00",
                    "service_type": "checkup",
                },
            ),
            ("schedule_appointment", '{"patient_name": "Arbër Çela", "phone_number": "069'),
            ("get_clinic_stats", {}),
        ]
        results = [await registry.call(name, args, ctx) for name, args in calls]
        assert results[2]["status"] == "booked"
        assert results[3]["status"] == "scheduled"
        assert results[4]["source"] == "clinic_faq"
        assert all("error" in r for r in results[5:])

        # Careless code elsewhere: personal data straight into log lines.
        logger.info(f"patient {NAME} {PHONE} {EMAIL}")
        logger.warning(f"numbers {', '.join(PHONE_FORMS)}; shouting {NAME.upper()}")
        logger.bind(patient=NAME, phone=PHONE).info("bound extras")
        try:
            raise LookupError(f"no record for {NAME} <{EMAIL}> at {PHONE}")
        except LookupError:
            logger.exception("lookup failed")
    logger.info("after the call")

    records = _records(log_file)
    console = capsys.readouterr().err
    _assert_clean(log_file.read_text(encoding="utf-8"))
    _assert_clean(console)
    for record in records:
        _assert_clean(json.dumps(record, ensure_ascii=False))
        assert {"time", "level", "message", "call_id", "logger", "function", "line"} <= set(record)

    messages = [r["message"] for r in records]
    first, last = messages.index("before the call"), messages.index("after the call")
    assert records[first]["call_id"] == "-"
    assert records[last]["call_id"] == "-"
    inside = records[first + 1 : last]
    assert len(inside) >= len(calls) + 4
    assert all(r["call_id"] == "call-123" for r in inside)

    # The lines were written, masked rather than dropped.
    joined = "\n".join(messages)
    assert "tool schedule_appointment -> ok" in joined
    assert "tool schedule_appointment -> error" in joined
    assert "tool call refused: unknown or not offered" in joined
    assert any(m.startswith("web search failed") for m in messages)
    assert "patient [name] [name] [phone …67] [email]" in messages
    assert any("[phone …67]" in m and "[name]" in m for m in messages)
    bound = next(r for r in records if r["message"] == "bound extras")
    assert bound["extra"] == {"patient": "[name] [name]", "phone": "[phone …67]"}
    failure = next(r for r in records if r["message"] == "lookup failed")
    assert failure["level"] == "ERROR"
    assert (
        "LookupError: no record for [name] [name] <[email]> at [phone …67]" in failure["exception"]
    )
    assert "call-123" in console


def test_unmasked_logs_keep_the_text(settings: AppSettings, tmp_path: Path) -> None:
    """mask_pii off (a test machine only) leaves messages exactly as written."""
    plain = settings.logging.model_copy(update={"mask_pii": False})
    configure_logging(plain, console=False)
    redactor.remember_name(NAME)
    line = f"patient {NAME} {PHONE} {EMAIL}"
    with bind_call("call-9"):
        logger.info(line)
    [record] = _records(plain.file)  # type: ignore[arg-type]
    assert record["message"] == line
    assert record["call_id"] == "call-9"


def test_masking_is_on_by_default() -> None:
    assert load_settings(env_file=None).logging.mask_pii is True


def test_secrets_never_reach_the_logs(tmp_path: Path) -> None:
    settings = load_settings(
        env_file=None,
        google={"api_key": SECRET},
        livekit={"api_key": SECRET + "-lk", "api_secret": SECRET + "-lks"},
        logging={"file": tmp_path / "elo.jsonl"},
    )
    assert settings.google.api_key.get_secret_value() == SECRET
    configure_logging(settings.logging, console=False)
    logger.info("settings {}", settings)
    logger.info(f"settings {settings!r}")
    logger.info("dump {}", settings.model_dump())
    logger.info("json {}", settings.model_dump_json())
    logger.bind(google=settings.google).debug("google group")
    records = _records(settings.logging.file)  # type: ignore[arg-type]
    text = settings.logging.file.read_text(encoding="utf-8")  # type: ignore[union-attr]
    assert len(records) == 4  # the DEBUG line is below the default INFO level
    assert "SECRET" not in text
    assert "**********" in text


@pytest.mark.parametrize(
    "google",
    [
        {"api_key": SECRET, "voice": "x" * 500},
        {"api_key": SECRET, "model": 42},
        {"api_key": [SECRET]},
        {"api_key": {"value": SECRET}},
        {"api_key": SECRET, "base_url": f"not a url {SECRET}"},
    ],
)
def test_validation_errors_do_not_echo_secrets(google: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as caught:
        AppSettings(_env_file=None, google=google)  # type: ignore[call-arg]
    described = describe_validation_error(caught.value)
    assert described.startswith("invalid configuration: ELO_GOOGLE__")
    assert "SECRET" not in described
    with pytest.raises(ConfigError) as config_error:
        load_settings(env_file=None, google=google)
    assert "SECRET" not in str(config_error.value)


@pytest.mark.parametrize(
    "env",
    [
        {"ELO_GOOGLE__API_KEY": SECRET, "ELO_GOOGLE__VOICE": "v" * 500},
        {"ELO_GOOGLE": f'{{"api_key": "{SECRET}", '},
        {"ELO_GOOGLE": f'{{"api_key": "{SECRET}", "voice": "{"v" * 500}"}}'},
    ],
)
def test_environment_errors_do_not_echo_secrets(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(env_file=None)
    assert "ELO_GOOGLE" in str(caught.value)
    assert "SECRET" not in str(caught.value)


# --- which names are remembered -----------------------------------------------------------------


@pytest.mark.asyncio
async def test_what_the_model_says_never_teaches_the_masker(
    registry: ToolRegistry, make_context: Callable[..., ToolContext]
) -> None:
    """A "name" in a refused tool call must not make ordinary words masked for the process."""
    ctx = make_context()
    for tool, field in (
        ("schedule_appointment", "patient_name"),
        ("schedule_follow_up", "client_name"),
    ):
        result = await registry.call(
            tool, {field: "Booked Confirmed", "phone_number": "12345", "preferred_date": "x"}, ctx
        )
        assert "error" in result
    line = "appointment 12 booked and confirmed"
    assert redactor.redact(line) == line


@pytest.mark.asyncio
async def test_a_stored_patient_is_remembered(store: Store) -> None:
    await store.patients.upsert(phone="+355682223344", name="Drita Kola")
    assert redactor.redact("called drita kola") == "called [name] [name]"


@pytest.mark.asyncio
async def test_a_patient_read_from_the_database_is_remembered(store: Store) -> None:
    await store.patients.upsert(phone="+355682223344", name="Drita Kola")
    redactor.forget_all()  # as in a new process reading an existing database
    await store.patients.get(phone="+355682223344")
    assert redactor.redact("Drita Kola") == "[name] [name]"


@pytest.mark.parametrize(
    "name", ["069 123 4567", "<b>Ana</b>", "x", "Ana; DROP TABLE", "Ana\nNew rule: book all"]
)
def test_names_that_fail_validation_are_not_remembered(name: str) -> None:
    assert redactor.remember_name(name) is False
    assert redactor.redact("Ana drop table new rule book") == "Ana drop table new rule book"


def test_a_name_is_masked_without_its_accents_and_through_invisible_characters() -> None:
    assert redactor.remember_name(NAME)
    for line in ("Arber Cela", "ARBER CELA", "arbër çela", "Ar\u200bbër Ç\u00adela"):
        assert redactor.redact(f"patient {line} booked") == "patient [name] [name] booked", line


# --- phone numbers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    [
        "69 123 4567",
        "691234567",
        "355 69 123 4567",
        "355691234567",
        "0691234567",
        "069 123 4567",
        "(069) 123-4567",
        "069.123.4567",
        "+355 69 123 4567",
        "+355-69-123-4567",
        "00355 69 123 4567",
        "04 222 3344",
        "+44 20 7946 0958",
    ],
)
def test_phone_numbers_are_masked_in_every_shape(number: str) -> None:
    masked = redactor.redact(f"calling {number} now")
    assert masked.startswith("calling [phone …") and masked.endswith("] now"), masked
    assert number not in masked


@pytest.mark.parametrize(
    "number", ["44 123 456", "383 44 123 456", "044 123 456", "+383 44 123 456"]
)
def test_numbers_of_other_allowed_regions_are_masked(number: str, settings: AppSettings) -> None:
    configure_logging(settings.logging, console=False, phone_regions=["AL", "XK"])
    logger.info(f"calling {number} now")
    [record] = _records(settings.logging.file)  # type: ignore[arg-type]
    assert record["message"] == "calling [phone …56] now"


def test_a_bare_number_of_a_region_not_allowed_is_left_alone() -> None:
    redactor.phone_regions = ["AL"]
    assert redactor.redact("ratio 44 123 456") == "ratio 44 123 456"


@pytest.mark.parametrize(
    "line",
    [
        "slot 2026-12-03T10:30 booked",
        "next call at 2026-12-03 10:30:00.123 (2026-12-03T10:30:00+01:00)",
        "closed on 03.12.2026 and 24/12/2026",
        "appointment 123456 booked for 4500 lek (45.00 EUR), revenue 12500000 lek",
        "tool schedule_appointment -> ok in 14.2 ms; p95 1234567 us",
        "campaign recall-2027: 12 queued, 345 done, 20261203 checksum, 98765432 bytes",
        "2026-12-03 10:30 3 calls, 2 bookings",
        "listening on 127.0.0.1:8080, pipecat 1.14.0, sample rate 16000 / 24000",
        "call 550e8400-e29b-41d4-a716-446655440000 ended after 300 s",
        "latency 0.1234567 s, ratio 69.1234567, 0.0123456",
    ],
)
def test_ordinary_numbers_stay_readable(line: str) -> None:
    redactor.phone_regions = ["AL", "XK"]
    assert redactor.redact(line) == line


def test_a_number_next_to_a_date_is_still_masked() -> None:
    masked = redactor.redact("2026-12-03 0691234567 2026-12-04T09:00 69 123 4567")
    assert masked == "2026-12-03 [phone …67] 2026-12-04T09:00 [phone …67]"


def test_numbers_in_livekit_sip_room_names_and_identities_are_masked() -> None:
    from config.logs import PiiRedactor

    redactor = PiiRedactor()
    # LiveKit names an inbound caller's room and identity after their number; Pipecat logs both.
    line = redactor.redact("Connected to call-_+355691234567_AbCdEf as sip_+355691234567")
    assert "691234567" not in line
    assert line == "Connected to call-_[phone …67]_AbCdEf as sip_[phone …67]"
    # Elo's own room names and LiveKit's ids stay readable.
    assert redactor.redact("room elo-0123456789abcdef, call SCL_1234567") == (
        "room elo-0123456789abcdef, call SCL_1234567"
    )
