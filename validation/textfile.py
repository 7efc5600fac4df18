"""Reading a staff-supplied text file as UTF-8, with a one-line reason when it is not.

Spreadsheets and old systems save CSV and JSON as UTF-16 (with or without a byte-order mark),
Latin-1 or Windows-1252. Guessing the encoding would silently garble names (``Ã«`` for ``ë``), so
such files are refused with a reason that says how to save them instead.
"""

from __future__ import annotations

import codecs
from pathlib import Path

_SAVE_AS = "save it as UTF-8 (in Excel: 'CSV UTF-8') and try again"
_WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


class TextFileError(ValueError):
    """The file cannot be read as UTF-8 text; the message is one line, without the content."""


def read_utf8(path: Path) -> str:
    """The file's text, decoded as UTF-8 (a UTF-8 byte-order mark is dropped).

    Args:
        path: The file.

    Returns:
        The text.

    Raises:
        TextFileError: The file is missing or unreadable, or is not UTF-8 (the message names the
            encoding when it is recognisable, or the line of the first bad byte).
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise TextFileError(f"{path} does not exist") from None
    except IsADirectoryError:
        raise TextFileError(f"{path} is a folder, not a file") from None
    except OSError as exc:
        raise TextFileError(f"{path} cannot be read ({exc.strerror or exc})") from None
    return decode_utf8(data, name=str(path))


def decode_utf8(data: bytes, *, name: str) -> str:
    """Decode ``data`` as UTF-8 or raise :class:`TextFileError` naming ``name`` and the problem."""
    for bom, encoding in _WIDE_BOMS:
        if data.startswith(bom):
            raise TextFileError(f"{name} is {encoding} text, not UTF-8; {_SAVE_AS}")
    if b"\x00" in data:
        # Text saved as UTF-16 or UTF-32 without a byte-order mark has a NUL in most characters.
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        wide = data.count(b"\x00") * 4 > len(data)
        hint = "; UTF-16 without a byte-order mark?" if wide else ""
        raise TextFileError(f"{name} contains NUL bytes (line {line}{hint}); {_SAVE_AS}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise TextFileError(
            f"{name} is not UTF-8 text (first bad byte on line {line}); {_SAVE_AS}"
        ) from None
    return text
