"""What the service and its worker processes say to each other: one JSON object per line.

The service writes to a worker's stdin; the worker answers on a pipe of its own (its stdout stays
free for whatever a library prints). Settings travel on the pipe, never on the command line or
in the environment, because they hold the keys.

Service → worker: ``hello`` (settings, the rehearsal's stand-ins if any), ``start`` (a call),
``answered``, ``cancel``, ``inbound`` (an inbound call), ``cancel_inbound``, ``stop``. Worker →
service: ``up``, ``ready``, ``answered`` (an inbound call's line is up), ``ended``.

Staff hanging up a call (the dashboard's "end this call") is ``cancel`` or ``cancel_inbound``
with the reason ``ended by staff``: the worker ends the call as any other, and records it.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import AnyUrl, SecretStr
from pydantic_core import MultiHostUrl, Url

from campaign.calls import CallEnd, CallJob
from config.settings import AppSettings, load_settings
from storage import CallAttempt, Campaign, CampaignContact
from storage.models import CallOutcome

# A line longer than this is not a message of ours (a job is ~2 KiB, the settings ~10 KiB).
MAX_LINE = 1024 * 1024


def encode(message: dict[str, Any]) -> bytes:
    """One message as a line of JSON."""
    return json.dumps(message, default=_plain, ensure_ascii=False).encode() + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    """A line back into its message.

    Raises:
        ValueError: The line is not a JSON object.
    """
    message = json.loads(line)
    if not isinstance(message, dict):
        raise ValueError("a message must be a JSON object")
    return message


def settings_message(settings: AppSettings) -> dict[str, Any]:
    """Every settings group with its values (secrets revealed: the pipe is private)."""
    return {group: getattr(settings, group).model_dump() for group in AppSettings.model_fields}


def settings_from(message: dict[str, Any]) -> AppSettings:
    """The settings the service sent, validated again in the worker."""
    return load_settings(env_file=None, **message)


def job_message(job: CallJob) -> dict[str, Any]:
    """A campaign call for a worker (the dialer stays behind: each process has its own)."""
    return {
        "campaign": job.campaign.model_dump(mode="json"),
        "contact": job.contact.model_dump(mode="json"),
        "attempt": job.attempt.model_dump(mode="json"),
        "call_id": job.call_id,
        "room": job.room,
        "participant_identity": job.participant_identity,
    }


def job_from(message: dict[str, Any], dialer: Any) -> CallJob:
    """The call the service sent, with this worker's own dialer."""
    return CallJob(
        campaign=Campaign.model_validate(message["campaign"]),
        contact=CampaignContact.model_validate(message["contact"]),
        attempt=CallAttempt.model_validate(message["attempt"]),
        call_id=str(message["call_id"]),
        room=str(message["room"]),
        participant_identity=str(message["participant_identity"]),
        dialer=dialer,
    )


def end_message(call_id: str, end: CallEnd) -> dict[str, Any]:
    """How a call ended, for the service."""
    return {
        "ev": "ended",
        "id": call_id,
        "outcome": end.outcome.value,
        "reason": end.reason,
        "duration_s": end.duration_s,
    }


def end_from(message: dict[str, Any]) -> CallEnd:
    """The end the worker reported."""
    duration = message.get("duration_s")
    return CallEnd(
        outcome=CallOutcome(message["outcome"]),
        reason=message.get("reason"),
        duration_s=None if duration is None else int(duration),
    )


def _plain(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, Path | AnyUrl | Url | MultiHostUrl):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"cannot send a {type(value).__name__} to a worker")
