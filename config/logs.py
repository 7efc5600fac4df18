"""Logging: readable console output, rotating JSON-lines file, call ids, and PII masking.

Every record passes a patcher that masks phone numbers, email addresses and patient names (names
the tools have seen are remembered, so a name typed into any later message is masked too) before
any sink formats it, including exception text. Tracebacks never show variable values.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import traceback
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from loguru import logger

from config.settings import LogFormat, LoggingSettings

if TYPE_CHECKING:
    from loguru import Record

call_id_var: ContextVar[str | None] = ContextVar("elo_call_id", default=None)

_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
# International (+ or 00) or national (leading 0) numbers with common separators, and bare
# Albanian numbers starting with the country code.
_PHONE = re.compile(
    r"(?<![\w.])(?:\+|00|0)\d(?:[ \-./()]{0,2}\d){5,14}(?!\w)|(?<!\d)355\d{7,9}(?!\d)"
)
_WORD = re.compile(r"[^\W\d_]{3,}")


class PiiRedactor:
    """Masks personal data in log text.

    Args:
        max_names: How many distinct name words to remember (oldest forgotten first).
    """

    def __init__(self, *, max_names: int = 20_000) -> None:
        self._names: OrderedDict[str, None] = OrderedDict()
        self._max = max_names
        self.enabled = True

    def remember_name(self, name: str) -> None:
        """Remember the words of a person's name so later log text containing them is masked."""
        for word in _WORD.findall(name):
            key = word.casefold()
            self._names[key] = None
            self._names.move_to_end(key)
        while len(self._names) > self._max:
            self._names.popitem(last=False)

    def forget_all(self) -> None:
        """Forget remembered names (tests)."""
        self._names.clear()

    def redact(self, text: str) -> str:
        """Return ``text`` with emails, phone numbers and remembered names masked."""
        if not self.enabled or not text:
            return text
        text = _EMAIL.sub("[email]", text)
        text = _PHONE.sub(_mask_phone_match, text)
        if self._names:
            text = _WORD.sub(
                lambda m: "[name]" if m.group(0).casefold() in self._names else m.group(0), text
            )
        return text


def _mask_phone_match(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return f"[phone …{digits[-2:]}]"


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
    record["message"] = redactor.redact(record["message"])
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


def configure_logging(settings: LoggingSettings, *, console: bool = True) -> None:
    """Replace loguru's handlers with Elo's: console and/or rotating JSON file, masked.

    Args:
        settings: The logging settings.
        console: Whether to log to stderr (the CLI keeps stdout for results).
    """
    redactor.enabled = settings.mask_pii
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
        settings.file.parent.mkdir(parents=True, exist_ok=True)
        logger.add(
            settings.file,
            level=settings.level,
            format=_json_format,
            rotation=settings.rotation_mb * 1_000_000,
            retention=settings.backups,
            encoding="utf-8",
            enqueue=False,
            backtrace=False,
            diagnose=False,
        )
