"""Keeping loguru's own error reports, which may hold unmasked records, off the console."""

from __future__ import annotations

from typing import Any


class LogErrorGuard:
    """A stand-in for stderr that keeps loguru's "Logging error" reports off the terminal.

    When a log sink fails (the log file's disk is full), loguru writes a block to stderr with a
    traceback and the raw record, which may hold unmasked personal data. This drops each such
    block, remembers that one was dropped, and passes every other write through.

    Args:
        stream: The real stderr.
    """

    _START = "--- Logging error in Loguru Handler"
    _END = "--- End of logging error ---"

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.swallowed = False
        self._inside = False

    def write(self, text: str) -> int:
        """Write ``text`` unless it belongs to a loguru error report."""
        if text.startswith(self._START):
            self._inside = self.swallowed = True
        if self._inside:
            if self._END in text:
                self._inside = False
            return len(text)
        return self.stream.write(text)

    def __getattr__(self, name: str) -> Any:
        # flush, isatty, fileno, encoding, close ...: the real stream's.
        return getattr(self.stream, name)
