"""Staff commands on a campaign (start, pause, resume, stop) against a real SQLite file."""

from __future__ import annotations

import pytest

from campaign.control import Command, ControlRefused, control
from storage import Store


async def _campaign(store: Store, name: str = "Recall") -> None:
    await store.campaigns.create(name=name, purpose="recall")


async def _state(store: Store, name: str = "Recall") -> str:
    campaign = await store.campaigns.get(name=name)
    assert campaign is not None
    return campaign.service_state


@pytest.mark.asyncio
async def test_a_campaign_goes_through_start_pause_resume_stop(store: Store) -> None:
    await _campaign(store)
    assert await _state(store) == "manual"
    assert [c.name for c in await store.campaigns.for_service()] == []

    result = await control(store, name="Recall", command=Command.START)
    assert (result.changed, result.campaign.service_state) == (True, "active")
    assert [c.name for c in await store.campaigns.for_service()] == ["Recall"]

    assert (await control(store, name="Recall", command=Command.PAUSE)).changed
    assert await _state(store) == "paused"
    assert await store.campaigns.for_service() == []

    assert (await control(store, name="Recall", command=Command.RESUME)).changed
    assert await _state(store) == "active"

    assert (await control(store, name="Recall", command=Command.STOP)).changed
    assert await _state(store) == "stopped"
    assert await store.campaigns.for_service() == []


@pytest.mark.asyncio
async def test_asking_for_the_state_it_is_in_changes_nothing(store: Store) -> None:
    await _campaign(store)
    await control(store, name="Recall", command=Command.START)
    again = await control(store, name="Recall", command=Command.START)
    assert (again.changed, again.campaign.service_state) == (False, "active")
    await control(store, name="Recall", command=Command.STOP)
    assert not (await control(store, name="Recall", command=Command.STOP)).changed


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("before", "command", "message"),
    [
        ((), Command.PAUSE, "is not run by the service; start it with `elo campaign start`"),
        ((), Command.RESUME, "is not run by the service; start it with `elo campaign start`"),
        ((Command.START, Command.PAUSE), Command.START, "is paused; resume it with"),
        ((Command.STOP,), Command.START, "was stopped and is never dialled again"),
        ((Command.STOP,), Command.RESUME, "was stopped and is never dialled again"),
        ((Command.STOP,), Command.PAUSE, "was stopped and is never dialled again"),
    ],
)
async def test_a_command_that_does_not_follow_is_refused_and_changes_nothing(
    store: Store, before: tuple[Command, ...], command: Command, message: str
) -> None:
    await _campaign(store)
    for step in before:
        await control(store, name="Recall", command=step)
    state = await _state(store)
    with pytest.raises(ControlRefused, match=message.replace("`", ".")):
        await control(store, name="Recall", command=command)
    assert await _state(store) == state


@pytest.mark.asyncio
async def test_unknown_and_done_campaigns_are_refused(store: Store) -> None:
    with pytest.raises(ControlRefused, match="no campaign named 'Nope'"):
        await control(store, name="Nope", command=Command.START)
    await _campaign(store)
    campaign = await store.campaigns.get(name="Recall")
    assert campaign is not None
    # A runner finished every contact: it leaves the campaign done.
    await store.runners.register(campaign_id=campaign.id, token="t", pid=1, host="h")
    await store.runners.release(campaign_id=campaign.id, token="t", status="done")
    with pytest.raises(ControlRefused, match="is done: every contact is finished"):
        await control(store, name="Recall", command=Command.START)
    assert await _state(store) == "manual"


@pytest.mark.asyncio
async def test_the_change_is_a_compare_and_set(store: Store) -> None:
    """Staff pausing while the breaker pauses: the second change finds the state moved on."""
    await _campaign(store)
    await control(store, name="Recall", command=Command.START)
    campaign = await store.campaigns.get(name="Recall")
    assert campaign is not None
    first = await store.campaigns.set_service_state(
        campaign_id=campaign.id,
        to="paused",
        allowed_from=frozenset({"active"}),
        pause_reason="3 SIP faults in a row",
    )
    assert first is not None and first.pause_reason == "3 SIP faults in a row"
    second = await store.campaigns.set_service_state(
        campaign_id=campaign.id, to="paused", allowed_from=frozenset({"active"})
    )
    assert second is None
    # Resuming clears the reason the breaker left.
    resumed = await control(store, name="Recall", command=Command.RESUME)
    assert resumed.campaign.pause_reason is None


@pytest.mark.asyncio
async def test_a_state_the_schema_does_not_know_is_refused_by_the_database(store: Store) -> None:
    await _campaign(store)
    campaign = await store.campaigns.get(name="Recall")
    assert campaign is not None
    with pytest.raises(Exception, match="CHECK constraint failed"):
        await store.campaigns.set_service_state(
            campaign_id=campaign.id,
            to="running",  # type: ignore[arg-type]
            allowed_from=frozenset({"manual"}),
        )
    assert await _state(store) == "manual"


@pytest.mark.asyncio
async def test_the_commands_offered_are_exactly_those_control_accepts(store: Store) -> None:
    """allowed_commands (what the dashboard shows) agrees with control itself, state by state."""
    from campaign.control import allowed_commands

    states = ("manual", "active", "paused", "stopped")
    for state in states:
        for command in Command:
            name = f"{state}-{command.value}"
            await _campaign(store, name)
            campaign = await store.campaigns.get(name=name)
            assert campaign is not None
            if state != "manual":
                await store.campaigns.set_service_state(
                    campaign_id=campaign.id, to=state, allowed_from=frozenset({"manual"})
                )
            offered = command in allowed_commands(status="draft", service_state=state)
            try:
                result = await control(store, name=name, command=command)
                accepted = result.changed
            except ControlRefused:
                accepted = False
            assert offered == accepted, (state, command)
    assert allowed_commands(status="done", service_state="active") == []
