"""Helpers shared by `elo` subcommands: who is acting, and phone numbers typed at the prompt."""

from __future__ import annotations

import getpass

from cli.failures import UsageError
from config.settings import AppSettings


def audit_actor() -> str:
    """The operating-system user running the command, as the audit trail names them."""
    try:
        return getpass.getuser() or "unknown"
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        return "unknown"


def parse_phone(raw: str, settings: AppSettings, *, field: str = "phone") -> str:
    """A phone number given at the command line, in E.164.

    Args:
        raw: The number as typed (``069 123 4567``, ``+355691234567``).
        settings: For the allowed and default regions.
        field: The option or argument named in the error.

    Raises:
        UsageError: Not a valid number of an allowed region (one line, exit 2).
    """
    from validation import InputError, normalize_phone

    try:
        return normalize_phone(
            raw,
            allowed_regions=settings.validation.allowed_phone_regions,
            default_region=settings.validation.default_phone_region,
            field=field,
        )
    except InputError as exc:
        # The validator's hint speaks to the model about a patient; staff need only the problem.
        raise UsageError(str(exc)) from None
