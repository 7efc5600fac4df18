"""``elo appointments list|cancel|mark``, ``elo follow-ups list|done``, ``elo browser-link``.

Staff find what an abusive call made (``--call CALL_ID``, ``--source agent``), one patient's
records (``--phone``) or a period's (``--from``/``--to``), and cancel appointments or close
callbacks. Cancelling and marking go through the calendar's own changes
(:class:`scheduling.staff_calendar.StaffCalendar`, as the dashboard's Calendar page does): the
reason (``--reason``, else a default naming the command or the call) is kept on the appointment
and the audit record written in the same transaction; the database trigger frees the slots.
Names and numbers are masked unless ``--show-pii`` is given; showing them, cancelling and
closing are written to the audit trail with the operating-system user as the actor, never with
the personal data itself.

``elo browser-link`` prints a one-time link to the browser page, signed with
``ELO_PIPELINE__WEBRTC_TOKEN``: it starts one call before it expires, so the secret itself is
never handed out. Making a link is audited too.
"""

from __future__ import annotations

import argparse
import re
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from cli.failures import UsageError
from cli.runtime import audit_actor, parse_phone
from config.clock import system_clock
from config.settings import AppSettings
from storage import Appointment, FollowUp, Store
from storage.records import PatientRef, RecordFilter
from tools.context import ToolMode

if TYPE_CHECKING:
    from scheduling.staff_calendar import StaffCalendar
    from tools.context import ToolContext

COMMANDS = frozenset({"appointments", "follow-ups", "browser-link"})
"""The top-level ``elo`` commands this module handles."""

_ACTIVE = ("scheduled", "confirmed")
_APPOINTMENT_STATUSES = ("scheduled", "confirmed", "cancelled", "completed", "no_show")
_FOLLOW_UP_STATUSES = ("pending", "done", "cancelled")
_SOURCES = ("agent", "cli", "import")
# Call ids are uuid hex strings or LiveKit room names.
_CALL_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
_MAX_LIMIT = 10000
# What a cancellation without --reason keeps as its reason (shown on the Calendar page).
_DEFAULT_REASON = "cancelled by staff with elo appointments cancel"
_CALL_REASON = "cancelled with every booking of call {call_id}"
_Record = TypeVar("_Record", Appointment, FollowUp)


def add_parsers(
    commands: Any, common: argparse.ArgumentParser, parser_class: type[argparse.ArgumentParser]
) -> None:
    """Add ``appointments`` and ``follow-ups`` to the ``elo`` sub-command parsers.

    Args:
        commands: The ``elo`` sub-parsers (``add_subparsers`` result).
        common: The parent parser with ``--db``, ``--env-file`` and ``-v``.
        parser_class: The parser class of ``elo`` (one-line errors, exit 2).
    """
    for noun, action, statuses, default_status in (
        ("appointments", "cancel", _APPOINTMENT_STATUSES, "active"),
        ("follow-ups", "done", _FOLLOW_UP_STATUSES, "pending"),
    ):
        what = "appointments" if noun == "appointments" else "callbacks owed to patients"
        group = commands.add_parser(noun, parents=[common], help=f"find and repair {what}")
        sub = group.add_subparsers(dest="staff_command", required=True, parser_class=parser_class)
        listing = sub.add_parser("list", parents=[common], help=f"list {what} (masked)")
        listing.add_argument("--from", dest="start", help="from this day or time (YYYY-MM-DD)")
        listing.add_argument("--to", dest="end", help="up to and including this day")
        listing.add_argument(
            "--status",
            default=default_status,
            choices=(*statuses, *(("active",) if noun == "appointments" else ()), "all"),
            help=f"which records (default {default_status})",
        )
        listing.add_argument("--phone", help="only this patient's records")
        listing.add_argument("--source", choices=_SOURCES, help="who made them (agent: Elo)")
        listing.add_argument("--call", dest="call_id", help="only what this call made")
        listing.add_argument(
            "--limit", type=int, default=200, help="at most this many (default 200)"
        )
        listing.add_argument(
            "--show-pii", action="store_true", help="show names and numbers (audited)"
        )
        if noun == "appointments":
            listing.add_argument(
                "--day", help="one clinic-local day (YYYY-MM-DD); not with --from/--to"
            )
            mark = sub.add_parser(
                "mark", parents=[common], help="mark an appointment that has started (audited)"
            )
            mark.add_argument("id", type=_record_id, help="appointment id (see list)")
            mark.add_argument("outcome", choices=("attended", "no-show"), help="what happened")
        verb = "cancel (frees the slots)" if action == "cancel" else "mark as done"
        change = sub.add_parser(action, parents=[common], help=f"{verb} by id or by call")
        change.add_argument("ids", nargs="*", type=_record_id, help="record ids (see list)")
        change.add_argument("--call", dest="call_id", help="every open record this call made")
        if noun == "appointments":
            change.add_argument(
                "--reason",
                help="why, kept on each appointment (at most 500 characters; default: says it"
                " was cancelled here, or with the call's bookings)",
            )

    link = commands.add_parser(
        "browser-link", parents=[common], help="a one-time link to the browser page (one call)"
    )
    link.add_argument(
        "--minutes", type=int, default=60, help="how long it may be used (default 60, max 1440)"
    )


async def run(args: argparse.Namespace, settings: AppSettings) -> dict[str, Any]:
    """Run one staff command; returns the JSON-ready result to print.

    Raises:
        UsageError: Input that cannot be used (a bad date, number, call id or record id).
    """
    from app.application import open_application

    if args.command == "browser-link":
        return await _browser_link(args, settings)
    appointments = args.command == "appointments"
    if args.staff_command == "mark":
        return await _mark(args, settings)
    if args.staff_command == "list":
        filters = _list_filters(args, settings, appointments=appointments)
    else:
        filters = _change_filters(args, appointments=appointments)
    async with open_application(settings) as app:
        ctx = app.tool_context(mode=ToolMode.ADMIN)
        store = ctx.store
        if args.staff_command == "list":
            return await _list(store, args, filters, appointments=appointments, tz=ctx.clinic.tz)
        if appointments:
            return await _cancel(_desk(ctx), store, args, filters)
        return await _done(store, args, filters)


async def _mark(args: argparse.Namespace, settings: AppSettings) -> dict[str, Any]:
    """``elo appointments mark ID attended|no-show``: the calendar's own change, audited."""
    from app.application import open_application
    from storage.calendar_models import CalendarError

    outcome = "attended" if args.outcome == "attended" else "no_show"
    async with open_application(settings) as app:
        desk = _desk(app.tool_context(mode=ToolMode.ADMIN))
        try:
            marked = await desk.mark(appointment_id=args.id, outcome=outcome, actor=audit_actor())
        except CalendarError as exc:
            raise UsageError(str(exc)) from None
    return {"id": marked.id, "status": marked.status}


async def _browser_link(args: argparse.Namespace, settings: AppSettings) -> dict[str, Any]:
    from app.application import open_application
    from pipeline.browser_access import make_link_token, page_url

    if not 1 <= args.minutes <= 1440:
        raise UsageError("--minutes must be between 1 and 1440 (24 hours)")
    pipeline = settings.pipeline
    secret = pipeline.webrtc_token.get_secret_value()
    if not secret:
        raise UsageError(
            "one-time links need ELO_PIPELINE__WEBRTC_TOKEN (the page's secret) in the settings"
            " of both this command and bot.py"
        )
    now = system_clock().astimezone()
    token = make_link_token(secret, valid_secs=args.minutes * 60, now=now.timestamp())
    async with open_application(settings) as app:
        ctx = app.tool_context(mode=ToolMode.ADMIN)
        # Who handed out access to the assistant, and for how long; never the link itself.
        await ctx.store.audit.record(
            actor=audit_actor(), action="browser.link", detail={"minutes": args.minutes}
        )
    return {
        "link": f"{page_url(pipeline.webrtc_host, pipeline.webrtc_port)}#token={token}",
        "calls": 1,
        "expires_at": (now + timedelta(minutes=args.minutes)).isoformat(timespec="minutes"),
    }


async def _list(
    store: Store,
    args: argparse.Namespace,
    filters: RecordFilter,
    *,
    appointments: bool,
    tz: Any,
) -> dict[str, Any]:
    if appointments:
        found: list[tuple[Any, PatientRef]] = list(await store.appointments.find(filters))
    else:
        found = list(await store.follow_ups.find(filters))
    if args.show_pii:
        # Before anything is shown: the trail must hold every look at personal data.
        await store.audit.record(
            actor=audit_actor(),
            action="pii.show",
            subject=None,
            detail={
                "command": f"{args.command} list",
                "records": len(found),
                "filters": sorted(
                    name
                    for name in ("start", "end", "phone", "source", "call_id")
                    if getattr(args, name, None)
                ),
                "status": args.status,
            },
        )
    rows = [_row(record, who, show=args.show_pii, tz=tz) for record, who in found]
    return {
        "count": len(rows),
        "limit": filters.limit,
        "pii": "shown" if args.show_pii else "masked (use --show-pii)",
        args.command.replace("-", "_"): rows,
    }


def _row(record: Any, who: PatientRef, *, show: bool, tz: Any) -> dict[str, Any]:
    from validation.people import mask_name
    from validation.phone import mask_phone

    data = record.model_dump(mode="json", exclude={"patient_id"})
    for key in ("starts_at", "ends_at", "due_at", "created_at"):
        value = getattr(record, key, None)
        if isinstance(value, datetime):
            data[key] = value.astimezone(tz).isoformat(timespec="minutes")
    if "reason" in data and data["reason"] and not show:
        data["reason"] = "[hidden]"  # free text said by a caller may hold anything
    data["patient"] = (
        {"name": who.name, "phone": who.phone}
        if show
        else {"name": mask_name(who.name), "phone": mask_phone(who.phone)}
    )
    return data


def _desk(ctx: ToolContext) -> StaffCalendar:
    """The staff calendar over a tool context (the one mechanism for staff changes)."""
    from scheduling.staff_calendar import StaffCalendar

    return StaffCalendar(
        store=ctx.store, clinic=ctx.clinic, calendar=ctx.calendar, slots=ctx.slots, clock=ctx.clock
    )


async def _cancel(
    desk: StaffCalendar, store: Store, args: argparse.Namespace, filters: RecordFilter
) -> dict[str, Any]:
    from storage.calendar_models import BookingRefused, NotChangeable

    if args.reason is not None:
        reason = args.reason
    elif args.call_id is not None:
        reason = _CALL_REASON.format(call_id=args.call_id)
    else:
        reason = _DEFAULT_REASON
    try:
        desk.clean_reason(reason)  # refused before anything is read or written
    except BookingRefused as exc:
        # "--reason: is too long (600 characters); ..." (the message starts with the field).
        raise UsageError(f"--{exc}; a reason is plain text of at most 500 characters") from None
    found = [appointment for appointment, _ in await store.appointments.find(filters)]
    _check_all_found(args, {a.id for a in found}, noun="appointment")
    actor = audit_actor()
    to_cancel, unchanged = _by_status(found, _ACTIVE)
    cancelled = []
    for appointment in to_cancel:
        try:
            await desk.cancel(appointment_id=appointment.id, reason=reason, actor=actor)
        except NotChangeable:
            # Changed by someone else since it was read (e.g. cancelled on the Calendar page).
            current = await store.calendar.get(appointment_id=appointment.id)
            unchanged.append({"id": appointment.id, "status": current.status})
            continue
        cancelled.append(appointment.id)
    return {"cancelled": cancelled, "unchanged": unchanged}


async def _done(store: Store, args: argparse.Namespace, filters: RecordFilter) -> dict[str, Any]:
    found = [follow_up for follow_up, _ in await store.follow_ups.find(filters)]
    _check_all_found(args, {f.id for f in found}, noun="follow-up")
    actor = audit_actor()
    to_close, unchanged = _by_status(found, ("pending",))
    for follow_up in to_close:
        await store.follow_ups.set_status(follow_up_id=follow_up.id, status="done")
        await store.audit.record(
            actor=actor,
            action="follow_up.done",
            subject=f"follow_up:{follow_up.id}",
            detail={"by_call": args.call_id is not None},
        )
    return {"done": [f.id for f in to_close], "unchanged": unchanged}


def _by_status(
    records: list[_Record], statuses: tuple[str, ...]
) -> tuple[list[_Record], list[dict[str, Any]]]:
    """The records whose status is one of ``statuses``, and the others as ``{id, status}``."""
    changing = [record for record in records if record.status in statuses]
    unchanged = [
        {"id": record.id, "status": record.status}
        for record in records
        if record.status not in statuses
    ]
    return changing, unchanged


def _check_all_found(args: argparse.Namespace, found: set[int], *, noun: str) -> None:
    missing = sorted(set(args.ids) - found)
    if missing:
        # Nothing changed yet: a typo in one id must not leave half the list done.
        raise UsageError(f"no {noun} with id {', '.join(str(i) for i in missing[:10])}")


def _change_filters(args: argparse.Namespace, *, appointments: bool) -> RecordFilter:
    if not args.ids and args.call_id is None:
        raise UsageError(f"{args.command} {args.staff_command}: give record ids or --call CALL_ID")
    if args.ids and args.call_id is not None:
        raise UsageError(f"{args.command} {args.staff_command}: give ids or --call, not both")
    if args.call_id is not None:
        open_statuses = _ACTIVE if appointments else ("pending",)
        return RecordFilter(call_id=_call_id(args.call_id), status=open_statuses, limit=_MAX_LIMIT)
    return RecordFilter(ids=tuple(sorted(set(args.ids))), limit=_MAX_LIMIT)


def _list_filters(
    args: argparse.Namespace, settings: AppSettings, *, appointments: bool
) -> RecordFilter:
    from config.clinic import load_clinic_profile

    if not 1 <= args.limit <= _MAX_LIMIT:
        raise UsageError(f"--limit must be between 1 and {_MAX_LIMIT}")
    tz = load_clinic_profile(settings.clinic.profile_path).tz
    if getattr(args, "day", None) is not None:
        if args.start or args.end:
            raise UsageError("give --day or --from/--to, not both")
        try:
            date.fromisoformat(args.day.strip())
        except ValueError:
            raise UsageError("--day must be a date like 2026-12-03") from None
        args.start = args.end = args.day.strip()
    start = _moment(args.start, "--from", tz) if args.start else None
    end = _moment(args.end, "--to", tz, end_of_day=True) if args.end else None
    if start is not None and end is not None and end <= start:
        raise UsageError("--to must be after --from")
    status: str | tuple[str, ...] | None
    if args.status == "all":
        status = None
    elif args.status == "active":
        status = _ACTIVE
    else:
        status = args.status
    return RecordFilter(
        start=start,
        end=end,
        status=status,
        phone=parse_phone(args.phone, settings, field="--phone")
        if args.phone is not None
        else None,
        source=args.source,
        call_id=_call_id(args.call_id) if args.call_id is not None else None,
        limit=args.limit,
    )


def _moment(text: str, option: str, tz: Any, *, end_of_day: bool = False) -> datetime:
    """A clinic-local day (``--to`` includes it) or date and time."""
    value = text.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            if end_of_day:
                day += timedelta(days=1)
            return datetime.combine(day, time.min, tzinfo=tz)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{option} must be a date like 2026-12-03 or 2026-12-03T10:30") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def _call_id(raw: str) -> str:
    if not _CALL_ID.fullmatch(raw):
        raise UsageError("--call must be a call id (letters, digits, _ . : -; see the calls)")
    return raw


def _record_id(text: str) -> int:
    # An ArgumentTypeError's message is what argparse prints (a ValueError would name this
    # function).
    if not text.isdigit() or len(text) > 18 or int(text) < 1:
        raise argparse.ArgumentTypeError("a record id is a positive whole number")
    return int(text)
