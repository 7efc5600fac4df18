"""The dashboard's pages, in :data:`PAGES`.

To add one: write ``dashboard/pages/NAME.py`` with a ``router`` and
``PAGE = Page(router=router, nav=nav.ENTRY)``, its template in ``dashboard/templates``, and list
it in :data:`PAGES` (docs/dashboard.md).
"""

from __future__ import annotations

from dashboard.nav import Page
from dashboard.pages import (
    account,
    audit,
    calendar,
    calls,
    campaign_setup,
    campaigns,
    clinic,
    do_not_call,
    follow_ups,
    messages,
    patient,
    patients,
    signin,
    today,
    users,
)

PAGES: list[Page] = [
    signin.PAGE,
    today.PAGE,
    calendar.PAGE,
    calls.PAGE,
    account.PAGE,
    users.PAGE,
    audit.PAGE,
    campaigns.PAGE,
    campaign_setup.PAGE,
    clinic.PAGE,
    follow_ups.PAGE,
    patients.PAGE,
    patient.PAGE,
    do_not_call.PAGE,
    messages.PAGE,
]
