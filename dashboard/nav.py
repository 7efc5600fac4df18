"""The navigation and the list of pages: how a page router plugs into the dashboard.

Every entry of the header's navigation is defined here once, in its order, with the role that
sees it. A page module makes a :class:`Page` (its router and, if it has one, its entry) and is
listed in :data:`dashboard.pages.PAGES`; the header then shows the entries of the pages that
exist, to the users whose role may see them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.routing import APIRoute

from dashboard.i18n import N_

Audience = Literal["staff", "admin"]


@dataclass(frozen=True)
class NavEntry:
    """One link of the header: where it goes, its label (a msgid), and who sees it.

    Attributes:
        key: A short stable name (``today``), also the page's ``active`` marker.
        path: The page's URL path.
        label: The link text as a msgid (translated when shown).
        audience: ``staff`` (every signed-in user) or ``admin`` (admins only).
        order: Position in the header, smallest first.
    """

    key: str
    path: str
    label: str
    audience: Audience
    order: int

    def visible_to(self, role: str) -> bool:
        """Whether a user of ``role`` sees this entry."""
        return self.audience == "staff" or role == "admin"


TODAY = NavEntry("today", "/today", N_("Today"), "staff", 10)
CALENDAR = NavEntry("calendar", "/calendar", N_("Calendar"), "staff", 20)
CALLS = NavEntry("calls", "/calls", N_("Calls"), "staff", 30)
FOLLOW_UPS = NavEntry("follow_ups", "/follow-ups", N_("Follow-ups"), "staff", 40)
CAMPAIGNS = NavEntry("campaigns", "/campaigns", N_("Campaigns"), "staff", 50)
PATIENTS = NavEntry("patients", "/patients", N_("Patients"), "staff", 60)
DO_NOT_CALL = NavEntry("do_not_call", "/do-not-call", N_("Do-not-call"), "staff", 70)
MESSAGES = NavEntry("messages", "/messages", N_("Messages"), "staff", 75)
CLINIC = NavEntry("clinic", "/clinic", N_("Clinic"), "staff", 80)
USERS = NavEntry("users", "/users", N_("Users"), "admin", 90)
AUDIT = NavEntry("audit", "/audit", N_("Audit log"), "admin", 100)


@dataclass(frozen=True)
class Page:
    """A page (or a group of pages) of the dashboard: its router and its header link.

    Attributes:
        router: The page's routes. Protect each with ``Depends(require_user)`` or
            ``Depends(require_admin)`` (:mod:`dashboard.sessions`); the browser tests check
            every route of the app is protected unless listed as public there.
        nav: Its link in the header, or None (sign-in, account).
    """

    router: APIRouter
    nav: NavEntry | None = None


def api_routes(routes: list[Any]) -> list[APIRoute]:
    """Every APIRoute in ``routes``, also those inside included routers.

    FastAPI 0.16x keeps an included router as one ``_IncludedRouter`` route holding the
    ``original_router``; older versions copied its routes, each with the router's dependencies,
    which the original routes carry too.

    Args:
        routes: An app's or router's ``routes``.
    """
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):
            found.extend(api_routes(route.original_router.routes))
    return found
