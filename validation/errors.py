"""The error every validator raises."""

from __future__ import annotations

from typing import Any


class InputError(ValueError):
    """A value a person or the model supplied cannot be used.

    Attributes:
        field: The argument the problem is in.
        message: What is wrong, in one sentence.
        hint: What to do instead.
        details: Extra JSON-ready data, e.g. valid options or nearest free slots.
    """

    def __init__(
        self, field: str, message: str, hint: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.hint = hint
        self.details = details or {}

    def to_result(self) -> dict[str, Any]:
        """Render as a tool result the model can act on."""
        return {"error": f"{self.field}: {self.message}", "hint": self.hint, **self.details}
