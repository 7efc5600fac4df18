"""Reading a campaign's contact list from a CSV file, validating every row.

Columns (header names are case-insensitive): ``name`` and ``phone`` are required; ``language``
(sq or en), ``time_zone`` (IANA), ``country`` (ISO code) and ``priority`` (integer) are optional.
Bad rows do not stop the import: each is reported with its line number and reason.
"""

from __future__ import annotations

import csv
import functools
import io
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import holidays
import phonenumbers

from storage.models import NewContact
from validation import InputError, normalize_name, normalize_phone

REQUIRED_COLUMNS = ("name", "phone")
OPTIONAL_COLUMNS = ("language", "time_zone", "country", "priority")
LANGUAGES = ("sq", "en")
DEFAULT_TIME_ZONE = "Europe/Tirane"
# Priorities are small ranks; a huge number is a spreadsheet slip, not an intent.
MAX_PRIORITY = 1_000_000


class ContactFileError(ValueError):
    """The file as a whole cannot be imported; the message is one line naming the file."""


@dataclass(frozen=True)
class Rejection:
    """A row that was not imported.

    Attributes:
        line: The row's line number in the file (the header is line 1).
        reason: Why, in one line.
        kind: ``rejected`` for an invalid row, ``merged`` for a repeat of an earlier number.
    """

    line: int
    reason: str
    kind: Literal["rejected", "merged"] = "rejected"


def read_contacts_csv(
    path: Path, *, default_region: str, allowed_regions: Iterable[str]
) -> tuple[list[NewContact], list[Rejection]]:
    """Read and validate a contacts CSV file.

    Args:
        path: The CSV file, UTF-8 (a byte-order mark, as Excel writes, is fine).
        default_region: Region assumed for numbers written without a country code.
        allowed_regions: Regions whose numbers are accepted.

    Returns:
        The valid contacts in file order (the first row wins for a repeated number), and the
        rows not imported: invalid ones and repeats merged into an earlier row.

    Raises:
        ContactFileError: The file cannot be read, is not UTF-8, or lacks required columns.
    """
    text = _read_text(path)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [(name or "").strip().lower() for name in reader.fieldnames or []]
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if missing:
        raise ContactFileError(
            f"{path}: missing required column(s) {', '.join(missing)};"
            f" the header must include {', '.join(REQUIRED_COLUMNS)}"
            f" (optional: {', '.join(OPTIONAL_COLUMNS)})"
        )
    reader.fieldnames = header
    regions = [region.upper() for region in allowed_regions]
    contacts: list[NewContact] = []
    rejections: list[Rejection] = []
    first_line_of: dict[str, int] = {}
    end_of_previous = reader.line_num
    for row in reader:
        # A quoted field may span lines; report the line the row starts on.
        line = end_of_previous + 1
        end_of_previous = reader.line_num
        if not any((value or "").strip() for key, value in row.items() if key is not None):
            continue
        try:
            contact = _contact(row, default_region=default_region, allowed_regions=regions)
        except _RowError as exc:
            rejections.append(Rejection(line=line, reason=str(exc)))
            continue
        first = first_line_of.setdefault(contact.phone, line)
        if first != line:
            rejections.append(
                Rejection(line=line, reason=f"same phone as line {first}", kind="merged")
            )
            continue
        contacts.append(contact)
    return contacts, rejections


class _RowError(ValueError):
    """One row is invalid; the message is the reason."""


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ContactFileError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        # utf-8-sig drops the byte-order mark Excel puts before the header.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ContactFileError(
            f"{path}: is not UTF-8 text (first bad byte on line {line});"
            " save it as 'CSV UTF-8' and import again"
        ) from None


def _contact(
    row: dict[str | None, str | None], *, default_region: str, allowed_regions: list[str]
) -> NewContact:
    if row.get(None):
        raise _RowError("has more fields than the header (an unquoted comma?)")
    try:
        phone = normalize_phone(
            row.get("phone") or "",
            allowed_regions=allowed_regions,
            default_region=default_region,
            field="phone",
        )
        name = normalize_name(row.get("name") or "", field="name")
    except InputError as exc:
        raise _RowError(str(exc)) from None
    return NewContact(
        phone=phone,
        name=name,
        language=_language(_cell(row, "language")),
        time_zone=_time_zone(_cell(row, "time_zone")),
        country=_country(_cell(row, "country"), phone),
        priority=_priority(_cell(row, "priority")),
    )


def _cell(row: dict[str | None, str | None], column: str) -> str:
    return (row.get(column) or "").strip()


def _language(value: str) -> Literal["sq", "en"]:
    language = value.lower() or "sq"
    if language == "sq":
        return "sq"
    if language == "en":
        return "en"
    raise _RowError(f"language: {value[:20]!r} is not one of {', '.join(LANGUAGES)}")


def _time_zone(value: str) -> str:
    if not value:
        return DEFAULT_TIME_ZONE
    if value not in _zones():
        raise _RowError(f"time_zone: {value[:40]!r} is not an IANA time zone (e.g. Europe/Tirane)")
    return value


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _country(value: str, phone: str) -> str:
    if not value:
        # The number's own country, whose public holidays apply to the callee.
        return phonenumbers.region_code_for_number(phonenumbers.parse(phone)) or "AL"
    country = value.upper()
    if country not in holidays.list_supported_countries():
        raise _RowError(f"country: {value[:20]!r} is not a known ISO country code (e.g. AL)")
    return country


def _priority(value: str) -> int:
    if not value:
        return 0
    try:
        priority = int(value)
    except ValueError:
        raise _RowError(f"priority: {value[:20]!r} is not a whole number") from None
    if abs(priority) > MAX_PRIORITY:
        raise _RowError(f"priority: must be between -{MAX_PRIORITY} and {MAX_PRIORITY}")
    return priority
