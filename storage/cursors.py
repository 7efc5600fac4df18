"""Keyset page cursors: the last row's sort key, opaque to the page that passes it back.

A list page ends with the sort key of its last row; the next page starts strictly after it, so
reading page 1,000 costs what page 1 does (no OFFSET) and rows with equal times are neither
skipped nor repeated (the key always ends with a unique column).
"""

from __future__ import annotations

import base64
import binascii
import json

from storage.errors import CursorError

Key = tuple[str | int, ...]


def encode(kind: str, key: Key) -> str:
    """The cursor for the row with sort ``key`` in the list ``kind``."""
    raw = json.dumps([kind, *key], separators=(",", ":"), ensure_ascii=True)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(cursor: str, kind: str, types: tuple[type, ...]) -> Key:
    """The sort key in ``cursor``, checked against the list's kind and key types.

    Args:
        cursor: What :func:`encode` gave.
        kind: The list it must be for.
        types: The type of each key part (``str`` or ``int``).

    Raises:
        CursorError: The cursor is malformed or for another list.
    """
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error):
        raise CursorError("not a page cursor") from None
    if not isinstance(data, list) or len(data) != len(types) + 1 or data[0] != kind:
        raise CursorError("not a cursor of this list")
    key = tuple(data[1:])
    # bool is an int to Python; a key part is never one.
    if not all(type(part) is wanted for part, wanted in zip(key, types, strict=True)):
        raise CursorError("not a cursor of this list")
    return key


def page_size(limit: int, *, most: int = 200) -> int:
    """``limit`` checked: 1 to ``most`` rows per page.

    Raises:
        ValueError: Out of range.
    """
    if not 1 <= limit <= most:
        raise ValueError(f"a page holds 1 to {most} rows, not {limit}")
    return limit
