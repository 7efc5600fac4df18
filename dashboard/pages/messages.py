"""The Messages page (staff and admins): the outbox newest first, dead letters first-class.

``/messages`` lists messages in keyset pages, filtered by status and channel, recipients masked
(no content is ever stored). It opens with the count of dead messages. Staff send a dead or
failed message again (``store.message_board.retry``: back to pending, attempts reset, audited
``message.retry``) while its appointment is still active and ahead. Admins stop or allow a
patient's messages on a channel from the patient's page (audited ``message.opt_out`` /
``message.opt_in``, subject ``patient:ID``).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from dashboard import nav
from dashboard.i18n import N_
from dashboard.message_labels import LABELS
from dashboard.nav import Page
from dashboard.paging import pager
from dashboard.sessions import require_admin, require_user, state_of
from dashboard.templating import render
from storage.errors import CursorError
from storage.users import WebSession

PAGE_SIZE = 50
CURSOR = r"^[A-Za-z0-9_-]{0,400}$"
STATUS = r"^(|pending|sending|sent|failed|dead|skipped)$"
CHANNEL = r"^(|sms|email)$"
router = APIRouter(dependencies=[Depends(require_user)])
NOTICES = {
    "retried": N_("The message waits to be sent again."),
    "unchanged": N_("The message was already waiting to be sent."),
    "not_active": N_(
        "The message cannot be sent again: its appointment is cancelled, over or gone."
    ),
}


def _actor(session: WebSession) -> str:
    return f"web:{session.user.name}"


@router.get("/messages")
async def messages_page(
    request: Request,
    status: str = Query("", pattern=STATUS),
    channel: str = Query("", pattern=CHANNEL),
    cursor: str = Query("", pattern=CURSOR),
    back: list[str] = Query(default=[]),  # noqa: B008
    done: str = Query("", max_length=20),
) -> Response:
    """Messages newest first, in keyset pages, with the dead letters' count."""
    board = state_of(request).app.store.message_board
    filters: dict[str, Any] = {"status": status or None, "channel": channel or None}
    context: dict[str, Any] = {"error": None, "notice": NOTICES.get(done), **LABELS}
    try:
        found = await board.page(**filters, cursor=cursor or None, limit=PAGE_SIZE)
    except CursorError:
        context["error"] = N_("That page link is not valid any more; here is the first page.")
        found = await board.page(**filters, limit=PAGE_SIZE)
        cursor, back = "", []
    form = {"status": status, "channel": channel}
    context |= {
        "messages": found.items,
        "dead": await board.dead_count(),
        "form": form,
        **pager("/messages", form, cursor=cursor or None, next_cursor=found.next_cursor, back=back),
    }
    return await render(request, "messages.html", context, active=nav.MESSAGES.key)


@router.post("/messages/{message_id:int}/retry")
async def send_again(
    request: Request,
    message_id: int = Path(ge=1),
    session: WebSession = Depends(require_user),  # noqa: B008
) -> Response:
    """Send a dead or failed message again (only while its appointment is ahead)."""
    board = state_of(request).app.store.message_board
    outcome = await board.retry(message_id=message_id, actor=_actor(session))
    if outcome == "not_found":
        raise HTTPException(status_code=404)
    return RedirectResponse(f"/messages?done={outcome}#message-{message_id}", status_code=303)


@router.post("/patients/{patient_id:int}/messages/{channel}/{action}")
async def patient_channel(
    request: Request,
    patient_id: int = Path(ge=1),
    channel: Literal["sms", "email"] = Path(),
    action: Literal["stop", "allow"] = Path(),
    session: WebSession = Depends(require_admin),  # noqa: B008
) -> Response:
    """Stop or allow again a patient's messages on one channel (admins; audited)."""
    store = state_of(request).app.store
    if await store.patient_record.get(patient_id=patient_id, limit=1) is None:
        raise HTTPException(status_code=404)
    await store.message_board.set_opt_out(
        patient_id=patient_id, channel=channel, stopped=action == "stop", actor=_actor(session)
    )
    return RedirectResponse(f"/patients/{patient_id}#messages", status_code=303)


PAGE = Page(router=router, nav=nav.MESSAGES)
