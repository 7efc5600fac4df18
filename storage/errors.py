"""The storage errors, in one module so every repository raises the same types."""

from __future__ import annotations


class StoreError(Exception):
    """The database cannot be used (newer schema, unreadable file, failed integrity check)."""


class NotFoundError(StoreError):
    """A record asked for by id does not exist."""


class PrivacyError(Exception):
    """A privacy action cannot be done now (e.g. the number is in a call); one line for a person."""


class CursorError(ValueError):
    """A page cursor that this code did not make (edited, truncated, or for another list)."""
