"""What staff tell the service to do with a campaign: start, pause, resume, stop.

One place for the rules, used by ``elo campaign start|pause|resume|stop`` and the coming
dashboard. The change itself is one compare-and-set in the database
(``store.campaigns.set_service_state``); the service reads the campaigns it should run every
``ELO_SERVER__POLL_SECS`` and starts or stops their runners (``service/campaigns.py``).

- ``start``: a campaign so far only run by hand (``manual``) becomes ``active``: the service
  dials it inside its calling windows.
- ``pause``: ``active`` → ``paused``: no new calls; calls in progress finish.
- ``resume``: ``paused`` (by staff or by the fault breaker) → ``active``.
- ``stop``: for good: the campaign is never dialled again, by the service or by
  ``elo campaign run``; calls in progress finish.

Asking for the state a campaign is already in is not an error (scripts may repeat a command).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from storage import Campaign, Store
from storage.models import ServiceState


class Command(StrEnum):
    """A staff command about a campaign."""

    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"


# command -> (state it leads to, states it may start from)
_RULES: dict[Command, tuple[ServiceState, frozenset[ServiceState]]] = {
    Command.START: ("active", frozenset({"manual"})),
    Command.PAUSE: ("paused", frozenset({"active"})),
    Command.RESUME: ("active", frozenset({"paused"})),
    Command.STOP: ("stopped", frozenset({"manual", "active", "paused"})),
}


class ControlRefused(Exception):
    """The command does not apply to the campaign as it is; the message says why, on one line."""


@dataclass(frozen=True)
class ControlResult:
    """What a command did.

    Attributes:
        campaign: The campaign after the command.
        changed: False when it already was in the state asked for.
    """

    campaign: Campaign
    changed: bool


async def control(store: Store, *, name: str, command: Command) -> ControlResult:
    """Apply a staff command to the campaign called ``name``.

    Raises:
        ControlRefused: No such campaign, it is done or stopped, or the command does not
            follow from its state (e.g. resuming a campaign never started).
    """
    target, allowed_from = _RULES[command]
    campaign = await store.campaigns.get(name=name)
    if campaign is None:
        raise ControlRefused(f"no campaign named {name!r}")
    if campaign.service_state == target:
        return ControlResult(campaign=campaign, changed=False)
    _refuse_unless_allowed(campaign, command, allowed_from)
    changed = await store.campaigns.set_service_state(
        campaign_id=campaign.id, to=target, allowed_from=allowed_from
    )
    if changed is None:
        # Changed by someone else between the read and the write: judge the state it has now.
        current = await store.campaigns.get_by_id(campaign_id=campaign.id)
        if current is None:
            raise ControlRefused(f"campaign {name!r} no longer exists")
        if current.service_state == target:
            return ControlResult(campaign=current, changed=False)
        _refuse_unless_allowed(current, command, allowed_from)
        raise ControlRefused(f"campaign {name!r} changed meanwhile; try again")
    return ControlResult(campaign=changed, changed=True)


def _refuse_unless_allowed(
    campaign: Campaign, command: Command, allowed_from: frozenset[ServiceState]
) -> None:
    name = campaign.name
    if campaign.status == "done":
        raise ControlRefused(f"campaign {name!r} is done: every contact is finished")
    state = campaign.service_state
    if state in allowed_from:
        return
    if state == "stopped":
        raise ControlRefused(f"campaign {name!r} was stopped and is never dialled again")
    if command is Command.START and state == "paused":
        raise ControlRefused(f"campaign {name!r} is paused; resume it with `elo campaign resume`")
    if state == "manual":
        raise ControlRefused(
            f"campaign {name!r} is not run by the service; start it with `elo campaign start`"
        )
    raise ControlRefused(f"campaign {name!r} is {state}; `{command.value}` does not apply")


def allowed_commands(*, status: str, service_state: ServiceState) -> list[Command]:
    """The commands that would change a campaign in this state (what a page offers).

    Args:
        status: The campaign's own status (``done`` allows nothing).
        service_state: What the service does with it now.
    """
    if status == "done":
        return []
    return [command for command, (_, start) in _RULES.items() if service_state in start]
