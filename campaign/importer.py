"""Reading a campaign's contact list from a CSV file, validating every row.

Columns (header names are case-insensitive): ``name`` and ``phone`` are required; ``language``
(sq, en or it: a code, a tag such as ``it-IT``, or a name such as ``Italiano``; blank is sq),
``time_zone`` (IANA), ``country`` (ISO code) and ``priority`` (integer) are optional.
Bad rows do not stop the import: each is reported with its line number and reason. A contact's
time zone and country must be the ones of its number (the calling window and the holidays depend
on them: an Albanian mobile "in" Pacific/Kiritimati would be called at night).

Every cell (and the header) loses its invisible characters (zero-width and bidi controls, the soft
hyphen, tag characters, Hangul fillers: see :mod:`validation.text`) before it is validated:
spreadsheets carry them in from copy and paste, and a name must be stored as people see it.

A file that cannot be read as a whole (not UTF-8, a repeated column, a field longer than the CSV
module's limit, a NUL byte) is refused before anything is imported.
"""

from __future__ import annotations

import csv
import functools
import importlib.resources
import io
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import holidays
import phonenumbers
from phonenumbers import timezone as phone_zones

from storage.models import NewContact
from validation import InputError, normalize_name, normalize_phone
from validation.languages import DEFAULT_LANGUAGE, LANGUAGES, Language, parse_language
from validation.text import strip_invisible
from validation.textfile import TextFileError, decode_utf8, read_utf8

REQUIRED_COLUMNS = ("name", "phone")
OPTIONAL_COLUMNS = ("language", "time_zone", "country", "priority")
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
        column: The column at fault (``phone``, ``name``, ``language``, ``time_zone``,
            ``country``, ``priority``), None for a row with more fields than the header or a
            repeat; lets a page say the reason in its own language.
        same_as: For a repeat, the line of the row it repeats.
    """

    line: int
    reason: str
    kind: Literal["rejected", "merged"] = "rejected"
    column: str | None = None
    same_as: int | None = None


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
    return _parse(str(path), text, default_region=default_region, regions=allowed_regions)


def read_contacts_data(
    data: bytes, *, name: str, default_region: str, allowed_regions: Iterable[str]
) -> tuple[list[NewContact], list[Rejection]]:
    """:func:`read_contacts_csv` for a file's bytes (an upload); ``name`` names it in errors.

    Raises:
        ContactFileError: The bytes are not UTF-8 text, or not a CSV with the required columns.
    """
    try:
        text = decode_utf8(data, name=name)
    except TextFileError as exc:
        raise ContactFileError(str(exc)) from None
    return _parse(name, text, default_region=default_region, regions=allowed_regions)


def _parse(
    name: str, text: str, *, default_region: str, regions: Iterable[str]
) -> tuple[list[NewContact], list[Rejection]]:
    try:
        return _read_rows(name, text, default_region=default_region, regions=regions)
    except csv.Error as exc:
        raise ContactFileError(f"{name}: {_csv_problem(exc)}") from None


def _read_rows(
    path: str, text: str, *, default_region: str, regions: Iterable[str]
) -> tuple[list[NewContact], list[Rejection]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [strip_invisible(name or "").strip().lower() for name in reader.fieldnames or []]
    repeated = sorted({name for name in header if name and header.count(name) > 1})
    if repeated:
        # DictReader would keep only the last of the two: which one staff meant is unknown.
        raise ContactFileError(
            f"{path}: column(s) {', '.join(repeated)} appear more than once in the header"
        )
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if missing:
        raise ContactFileError(
            f"{path}: missing required column(s) {', '.join(missing)};"
            f" the header must include {', '.join(REQUIRED_COLUMNS)}"
            f" (optional: {', '.join(OPTIONAL_COLUMNS)})"
        )
    reader.fieldnames = header
    allowed_regions = [region.upper() for region in regions]
    contacts: list[NewContact] = []
    rejections: list[Rejection] = []
    first_line_of: dict[str, int] = {}
    end_of_previous = reader.line_num
    for row in reader:
        # A quoted field may span lines; report the line the row starts on.
        line = end_of_previous + 1
        end_of_previous = reader.line_num
        row = _visible_row(row)
        if not any((value or "").strip() for key, value in row.items() if key is not None):
            continue
        try:
            contact = _contact(row, default_region=default_region, allowed_regions=allowed_regions)
        except _RowError as exc:
            rejections.append(Rejection(line=line, reason=str(exc), column=exc.column))
            continue
        first = first_line_of.setdefault(contact.phone, line)
        if first != line:
            rejections.append(
                Rejection(
                    line=line, reason=f"same phone as line {first}", kind="merged", same_as=first
                )
            )
            continue
        contacts.append(contact)
    return contacts, rejections


def _visible_row(row: dict[str | None, Any]) -> dict[str | None, Any]:
    """The row with invisible characters removed from every cell (extra cells included)."""
    return {
        key: [strip_invisible(v) for v in value]
        if isinstance(value, list)
        else strip_invisible(value)
        if isinstance(value, str)
        else value
        for key, value in row.items()
    }


class _RowError(ValueError):
    """One row is invalid; the message is the reason, ``column`` the column at fault."""

    def __init__(self, message: str, column: str | None = None) -> None:
        super().__init__(message)
        prefix = message.partition(":")[0]
        known = column or (prefix if prefix in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS) else None)
        self.column = known


def _read_text(path: Path) -> str:
    try:
        # UTF-8 only; the byte-order mark Excel puts before the header is dropped.
        return read_utf8(path)
    except TextFileError as exc:
        raise ContactFileError(str(exc)) from None


def _csv_problem(exc: csv.Error) -> str:
    """The csv module's complaint, in staff's words (its messages carry no cell content)."""
    text = str(exc)
    if "field larger than field limit" in text:
        return f"a field is longer than {csv.field_size_limit():,} characters (a missing quote?)"
    return f"is not a readable CSV file ({text})"


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
        raise _RowError(str(exc), exc.field) from None
    number = phonenumbers.parse(phone)
    return NewContact(
        phone=phone,
        name=name,
        language=_language(_cell(row, "language")),
        time_zone=_time_zone(_cell(row, "time_zone"), number),
        country=_country(_cell(row, "country"), number),
        priority=_priority(_cell(row, "priority")),
    )


def _cell(row: dict[str | None, str | None], column: str) -> str:
    return (row.get(column) or "").strip()


def _language(value: str) -> Language:
    if not value:
        return DEFAULT_LANGUAGE
    language = parse_language(value)
    if language is None:
        raise _RowError(f"language: {value[:20]!r} is not one of {', '.join(LANGUAGES)}")
    return language


def _time_zone(value: str, number: phonenumbers.PhoneNumber) -> str:
    zones = _number_zones(number)
    if not value:
        # The number's own zone when it has exactly one; the clinic's otherwise.
        return zones[0] if len(zones) == 1 else DEFAULT_TIME_ZONE
    if value not in _zones():
        raise _RowError(f"time_zone: {value[:40]!r} is not an IANA time zone (e.g. Europe/Tirane)")
    if zones and not any(_same_zone(value, zone) for zone in zones):
        raise _RowError(
            f"time_zone: {value} does not fit the phone number's country"
            f" (expected {' or '.join(zones[:3])}{' ...' if len(zones) > 3 else ''})"
        )
    return value


def _number_zones(number: phonenumbers.PhoneNumber) -> tuple[str, ...]:
    """The IANA zones of a number's area (empty when the metadata does not know it)."""
    zones = phone_zones.time_zones_for_number(number)
    return tuple(zone for zone in zones if zone in _zones())


@functools.cache
def _same_zone(first: str, second: str) -> bool:
    """Whether two zone names are the same zone (one may be a link, e.g. Europe/Kiev)."""
    if first == second:
        return True
    try:
        return _zone_bytes(first) == _zone_bytes(second)
    except (OSError, ValueError):
        return False


def _zone_bytes(name: str) -> bytes:
    # The tzdata package stores a link as a copy of its target, so equal files are one zone.
    return importlib.resources.files("tzdata.zoneinfo").joinpath(*name.split("/")).read_bytes()


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _country(value: str, number: phonenumbers.PhoneNumber) -> str:
    region = phonenumbers.region_code_for_number(number)
    if not value:
        # The number's own country, whose public holidays apply to the callee.
        return region or "AL"
    country = value.upper()
    if country not in holidays.list_supported_countries():
        raise _RowError(f"country: {value[:20]!r} is not a known ISO country code (e.g. AL)")
    if region and country != region:
        raise _RowError(f"country: {country} does not match the phone number's country ({region})")
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


def place_of(phone: str) -> tuple[str, str]:
    """The time zone and country of an E.164 number, as a row without them gets on import.

    ``elo recall build`` uses it for patients' numbers from abroad (patients keep neither).
    """
    number = phonenumbers.parse(phone, None)
    return _time_zone("", number), _country("", number)
