"""Logging: readable console output, rotating JSON-lines file, call ids, and PII masking.

Every record passes a patcher that masks phone numbers, email addresses and patient names before
any sink formats it, including exception text. Tracebacks never show variable values.

Names are remembered only from trusted sources: the call's metadata (set by whoever starts the
call) and patients read from or written to the database, and only once they pass
:func:`validation.people.normalize_name`. What the model or a caller says is never remembered, so
nobody can make the logs mask ordinary words such as "booked". A remembered name is also masked
written without its accents ("Arber Cela" after "Arbër Çela").

Phone numbers are masked in every common shape: international (``+355 69 123 4567``,
``00355...``), national with the trunk prefix (``069 123 4567``), and bare numbers that are valid
in one of the allowed regions (``69 123 4567``, ``355691234567``, a Kosovo ``44 123 456``).
Dates, times, prices, ids and counts are left readable.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import phonenumbers
from loguru import logger

from config.private_files import make_private_dirs, private_opener
from config.settings_groups import LogFormat, LoggingSettings
from validation.errors import InputError
from validation.people import normalize_name
from validation.text import fold, strip_invisible

if TYPE_CHECKING:
    from loguru import Record

call_id_var: ContextVar[str | None] = ContextVar("elo_call_id", default=None)

# Starts only where a run of address characters starts: tried at every position inside a long
# run (a 100,000-letter tool argument), the pattern took 40 s on the event loop of a call.
_EMAIL = re.compile(r"(?<![\w.+\-])[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
# Pipecat logs every tool call's arguments at DEBUG. They hold what the caller said (a third
# party's name the masker cannot know, free text), so only the tool's name and id are kept.
_TOOL_ARGUMENTS = re.compile(r"(Calling function \[[^\]]*\]) with arguments .*", re.DOTALL)
# Digit runs that could be a phone number: an optional + or 00, then 7 to 17 digits with up to two
# separators between them. Which runs are masked is decided by :func:`_is_phone`. An underscore
# counts as a separator, not a letter: LiveKit names a SIP caller's room and identity after their
# number (``call-_+355691234567_AbC``, ``sip_+355691234567``), and Pipecat logs both.
_PHONE = re.compile(r"(?<![^\W_]|\.)(?:\+|00)?\(?\d(?:[ \-./()\u00a0]{0,2}\d){6,16}(?![^\W_])")
# Dates and ISO times are set aside before phones are looked for, so "2026-12-03 10:30" is never
# read as the digits 202612031030 (nor joined to a number written next to it).
_DATE = re.compile(
    r"(?<!\d)(?:(?:19|20)\d\d-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
    r"(?:[T ]\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?(?:Z|[+-]\d\d:?\d\d)?)?"
    r"|(?:0?[1-9]|[12]\d|3[01])[./-](?:0?[1-9]|1[0-2])[./-](?:19|20)\d\d)(?![\d:])"
)
_DECIMAL = re.compile(r"\d+\.\d+")
# Stands in for a date while phones are masked; a private-use character no log line needs.
_HOLD = "\ue000"
_HELD = re.compile(_HOLD)
_NON_DIGIT = re.compile(r"\D")
_WORD = re.compile(r"[^\W\d_]{3,}")
# The longest name worth remembering (longer text is not a name).
_MAX_NAME = 200


class PiiRedactor:
    """Masks personal data in log text.

    Args:
        max_names: How many distinct name words to remember (oldest forgotten first).
        phone_regions: Regions whose numbers are also recognised without a prefix.
    """

    def __init__(self, *, max_names: int = 20_000, phone_regions: Iterable[str] = ("AL",)) -> None:
        self._names: OrderedDict[str, None] = OrderedDict()
        self._max = max_names
        self.enabled = True
        self.phone_regions = tuple(phone_regions)

    @property
    def phone_regions(self) -> tuple[str, ...]:
        """Regions whose numbers are masked even when written without ``+``, ``00`` or ``0``."""
        return self._regions

    @phone_regions.setter
    def phone_regions(self, regions: Iterable[str]) -> None:
        self._regions = tuple(dict.fromkeys(region.upper() for region in regions))
        self._country_codes = tuple(
            str(phonenumbers.country_code_for_region(region)) for region in self._regions
        )

    def remember_name(self, name: str) -> bool:
        """Remember a trusted person's name so later log text containing its words is masked.

        Call this only with names from the call's metadata or from a stored patient record,
        never with what the model or a caller said. A name that does not pass
        :func:`validation.people.normalize_name` is ignored.

        Args:
            name: The person's name.

        Returns:
            Whether the name was valid and remembered.
        """
        try:
            valid = normalize_name(name[: _MAX_NAME * 2], max_length=_MAX_NAME)
        except InputError:
            return False
        for word in _WORD.findall(valid):
            key = _fold_word(word)
            self._names[key] = None
            self._names.move_to_end(key)
        while len(self._names) > self._max:
            self._names.popitem(last=False)
        return True

    def forget_all(self) -> None:
        """Forget remembered names (tests)."""
        self._names.clear()

    def redact(self, text: str) -> str:
        """Return ``text`` with emails, phone numbers and remembered names masked."""
        if not self.enabled or not text:
            return text
        # Invisible characters could split a name or number so that it is not recognised.
        text = strip_invisible(text.replace(_HOLD, "\ufffd"))
        text = _EMAIL.sub("[email]", text)
        dates: list[str] = []

        def hold(match: re.Match[str]) -> str:
            dates.append(match.group(0))
            return _HOLD

        text = _DATE.sub(hold, text)
        text = _PHONE.sub(self._mask_phone, text)
        if dates:
            pending = iter(dates)
            text = _HELD.sub(lambda _: next(pending), text)
        if self._names:
            text = _WORD.sub(
                lambda m: "[name]" if _fold_word(m.group(0)) in self._names else m.group(0), text
            )
        return text

    def _mask_phone(self, match: re.Match[str]) -> str:
        raw = match.group(0)
        digits = _NON_DIGIT.sub("", raw)
        return f"[phone …{digits[-2:]}]" if self._is_phone(raw, digits) else raw

    def _is_phone(self, raw: str, digits: str) -> bool:
        if _DECIMAL.fullmatch(raw):
            return False  # a measurement such as 0.1234567 s; numbers are not written so
        if raw.startswith("+"):
            return len(digits) >= 7
        if digits.startswith("00"):
            return len(digits) >= 9
        if digits.startswith("0"):
            # A national number with its trunk prefix (any country): no count or price looks so.
            return True
        # Bare digits: a number of an allowed region written without any prefix, or with its
        # country code but no "+". Anything else (counts, prices, ids) stays readable.
        for code in self._country_codes:
            if digits.startswith(code) and _valid("+" + digits, None, self._regions):
                return True
        return any(_valid(digits, region, self._regions) for region in self._regions)


@lru_cache(maxsize=4096)
def _fold_word(word: str) -> str:
    return fold(word)


@lru_cache(maxsize=1024)
def _valid(number: str, region: str | None, allowed: tuple[str, ...]) -> bool:
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return False
    return (
        phonenumbers.is_valid_number(parsed)
        and phonenumbers.region_code_for_number(parsed) in allowed
    )


redactor = PiiRedactor()


@contextmanager
def bind_call(call_id: str) -> Iterator[None]:
    """Tag every log record made inside this block (and its tasks) with ``call_id``."""
    token = call_id_var.set(call_id)
    try:
        yield
    finally:
        call_id_var.reset(token)


def _patch(record: Record) -> None:
    extra = record["extra"]
    extra.setdefault("call_id", call_id_var.get() or "-")
    message = record["message"]
    if record["name"] and record["name"].startswith("pipecat."):
        message = _TOOL_ARGUMENTS.sub(r"\1 (arguments not logged)", message)
    record["message"] = redactor.redact(message)
    for key, value in list(extra.items()):
        if isinstance(value, str) and not key.startswith("_"):
            extra[key] = redactor.redact(value)
    exc = record["exception"]
    if exc is not None and exc.type is not None:
        text = "".join(traceback.format_exception(exc.type, exc.value, exc.traceback))
        extra["_exc"] = redactor.redact(text)
    else:
        extra["_exc"] = ""
    extra["_json"] = json.dumps(_as_json(record), ensure_ascii=False, default=str)


def _as_json(record: Record) -> dict[str, Any]:
    extra = {k: v for k, v in record["extra"].items() if not k.startswith("_") and k != "call_id"}
    data: dict[str, Any] = {
        "time": record["time"].isoformat(),
        "level": record["level"].name,
        "message": record["message"],
        "call_id": record["extra"].get("call_id", "-"),
        "logger": record["name"],
        "function": record["function"],
        "line": record["line"],
    }
    if extra:
        data["extra"] = extra
    if record["extra"].get("_exc"):
        data["exception"] = record["extra"]["_exc"]
    return data


def _console_format(record: Record) -> str:
    tail = "\n{extra[_exc]}" if record["extra"].get("_exc") else ""
    return (
        "<green>{time:YYYY-MM-DD HH:mm:ss.SSS}</green> | <level>{level: <8}</level> | "
        "<cyan>{extra[call_id]}</cyan> | {name}:{line} - <level>{message}</level>" + tail + "\n"
    )


def _json_format(record: Record) -> str:
    return "{extra[_json]}\n"


class _ToLoguru(logging.Handler):
    """Sends a standard-library log record through loguru, so it is masked and formatted alike."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        # The traceback comes along (the patcher masks its text like any message).
        logger.opt(depth=6, exception=record.exc_info).log(
            level, "{}: {}", record.name, record.getMessage()
        )


# Libraries that log through the standard library (the LiveKit SDK logs room and signalling
# events there); without a handler Python would print them raw to stderr, unmasked.
_STDLIB_LOGGERS = ("livekit", "aiohttp")


def log_rotation(size_limit: int) -> Callable[[Any, Any], bool]:
    """When loguru starts a new log file: at ``size_limit`` bytes, or on a new local day.

    Rotating daily gives every log file an age, so :func:`log_retention` can drop whole days
    once they are older than the retention period (a quiet clinic would otherwise keep writing
    one file for months, and no file would ever be old enough to delete).

    Args:
        size_limit: The size at which the file rotates, in bytes.

    Returns:
        A loguru ``rotation`` callable ``(message, file) -> bool``.
    """
    current: dict[str, date] = {}

    def should_rotate(message: Any, file: Any) -> bool:
        file.seek(0, 2)
        size = file.tell()
        today = message.record["time"].date()
        if size == 0:
            current["day"] = today
            return False
        # A file written before this process started: its last write tells its day.
        day = current.setdefault("day", date.fromtimestamp(os.fstat(file.fileno()).st_mtime))
        if size + len(message) > size_limit or day != today:
            current["day"] = today
            return True
        return False

    return should_rotate


def log_retention(*, backups: int, max_age_days: int | None) -> Callable[[list[str]], None]:
    """Which rotated log files loguru deletes: beyond ``backups``, or older than the age limit.

    Masked logs are still personal data (times, call ids, what was booked): the privacy
    retention period (``ELO_PRIVACY__RETENTION_DAYS``) applies to them as to transcripts.

    Args:
        backups: Rotated files kept at most.
        max_age_days: Rotated files last written longer ago than this are deleted; None keeps
            them until ``backups`` pushes them out.

    Returns:
        A loguru ``retention`` callable taking the rotated files' paths.
    """

    def clean(logs: list[str]) -> None:
        cutoff = time.time() - max_age_days * 86_400 if max_age_days is not None else None
        written = {path: os.stat(path).st_mtime for path in logs}
        newest_first = sorted(logs, key=written.__getitem__, reverse=True)
        for index, path in enumerate(newest_first):
            if index >= backups or (cutoff is not None and written[path] <= cutoff):
                os.remove(path)

    return clean


def configure_logging(
    settings: LoggingSettings,
    *,
    console: bool = True,
    phone_regions: Iterable[str] = ("AL",),
    retention_days: int | None = None,
) -> None:
    """Replace loguru's handlers with Elo's: console and/or rotating JSON file, masked.

    Args:
        settings: The logging settings.
        console: Whether to log to stderr (the CLI keeps stdout for results).
        phone_regions: The allowed phone regions (``settings.validation.allowed_phone_regions``):
            their numbers are masked even when written without a prefix.
        retention_days: Rotated log files older than this are deleted
            (``settings.privacy.retention_days``); None keeps ``settings.backups`` files.
    """
    redactor.enabled = settings.mask_pii
    redactor.phone_regions = phone_regions
    for name in _STDLIB_LOGGERS:
        library = logging.getLogger(name)
        library.handlers = [_ToLoguru()]
        library.setLevel(logging.WARNING)
        library.propagate = False
    logger.remove()
    logger.configure(patcher=_patch)
    if console:
        logger.add(
            sys.stderr,
            level=settings.level,
            format=_json_format if settings.console_format is LogFormat.JSON else _console_format,
            colorize=settings.console_format is LogFormat.TEXT and sys.stderr.isatty(),
            backtrace=False,
            diagnose=False,
        )
    if settings.file is not None:
        # Logs are personal data even masked: new log files 0600, new folders 0700.
        make_private_dirs(settings.file.parent)
        logger.add(
            settings.file,
            opener=private_opener,
            level=settings.level,
            format=_json_format,
            rotation=log_rotation(settings.rotation_mb * 1_000_000),
            retention=log_retention(backups=settings.backups, max_age_days=retention_days),
            encoding="utf-8",
            enqueue=False,
            backtrace=False,
            diagnose=False,
        )
