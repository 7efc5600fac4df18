"""A campaign run's progress as one line: rewritten on a terminal, plain lines otherwise."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TextIO

from campaign.calls import Progress


class ProgressLine:
    """Shows the runner's progress: one rewritten line on a terminal, plain lines otherwise."""

    def __init__(self, stream: TextIO, *, tz: Any) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._tz = tz
        self._last = ""

    def __call__(self, progress: Progress) -> None:
        """Show the progress if it changed."""
        text = self.render(progress)
        if text == self._last:
            return
        self._last = text
        if self._tty:
            self._stream.write("\r\x1b[2K" + text)
        else:
            self._stream.write(text + "\n")
        self._stream.flush()

    def render(self, progress: Progress) -> str:
        """The progress as one line (counts only, no patient data)."""
        parts = [
            f"dialled {progress.dialled}",
            f"answered {progress.answered}",
            f"booked {progress.booked}",
            f"in call {progress.active}",
            f"remaining {progress.remaining}",
        ]
        if progress.state == "waiting" and progress.waiting_until is not None:
            parts.append(f"next call {_local(progress.waiting_until, self._tz)}")
        elif progress.state not in ("calling", "waiting"):
            parts.append(progress.state)
        return " | ".join(parts)

    def close(self) -> None:
        """End the rewritten line."""
        if self._tty and self._last:
            self._stream.write("\n")
            self._stream.flush()


def _local(moment: datetime, tz: Any) -> str:
    return moment.astimezone(tz).strftime("%a %H:%M")
