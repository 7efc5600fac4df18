"""Two service nodes on one PostgreSQL database: a session made on one works on the other.

Issue 14: "Inbound webhooks and the dashboard work on any node". Two real services (the same
factory `elo serve` uses) run on their own ports over one PostgreSQL database of the session's
throwaway cluster; an admin signs in on node 1 and browses every page of the header on node 2
with the same cookie, and what one node writes the other shows. Plain HTTP, no browser: the
pages' looks are the browser tests' job; here only the shared state is under test.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from dashboard.pages import PAGES
from devtools.clock import ManualClock
from tests.backends import PG_HASH_KEY
from tests.conftest import TIRANE
from tests.dashboard.conftest import PASSWORD, served_settings, serving


def node_settings(folder: Path, url: str) -> object:
    """One node's settings: its own folder for logs and profile, the shared database and key."""
    folder.mkdir(exist_ok=True)
    settings = served_settings(folder)
    return settings.model_copy(
        update={
            "database": settings.database.model_copy(update={"url": url}),
            "privacy": settings.privacy.model_copy(
                update={"hash_key": type(settings.privacy.hash_key)(PG_HASH_KEY)}
            ),
        }
    )


def csrf(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None, "no CSRF token on the page"
    return found[1]


def test_a_session_and_its_writes_are_shared_by_both_nodes(
    tmp_path: Path, pg_database: str
) -> None:
    clock = ManualClock(datetime.now(TIRANE).replace(microsecond=0))
    first = node_settings(tmp_path / "node-1", pg_database)
    second = node_settings(tmp_path / "node-2", pg_database)
    with serving(first, clock) as one, serving(second, clock) as two:
        assert one.app.store.db.dialect == two.app.store.db.dialect == "postgresql"
        one.add_user("Admin", role="admin")
        with httpx.Client(timeout=30) as client:
            form = client.get(f"{one.url}/login")
            signed = client.post(
                f"{one.url}/login",
                data={
                    "name": "Admin",
                    "password": PASSWORD,
                    "next": "/",
                    "csrf_token": csrf(form.text),
                },
            )
            assert signed.status_code == 303, signed.text
            # The cookie is the host's, whatever the port: node 2 must know the session.
            paths = sorted({page.nav.path for page in PAGES if page.nav is not None})
            assert len(paths) >= 8
            for path in paths:
                response = client.get(f"{two.url}{path}")
                assert response.status_code == 200, (path, response.status_code)
                assert "/login" not in str(response.url), path

            # A do-not-call entry added through node 2's page shows on node 1's list.
            page = client.get(f"{two.url}/do-not-call")
            added = client.post(
                f"{two.url}/do-not-call",
                data={"csrf_token": csrf(page.text), "phone": "+355691234567", "reason": "asked"},
            )
            assert added.status_code == 303, added.text
            # Node 1's list counts it (numbers are masked there, so count the rows).
            listed = client.get(f"{one.url}/do-not-call")
            assert listed.status_code == 200 and listed.text.count("/remove") == 1

        # One audit trail: node 1 reads the sign-in it took and the addition node 2 made.
        actions = [entry.action for entry in one.audit()]
        assert "dashboard.sign_in" in actions and "dnc.add" in actions
        assert one.run(one.app.store.dnc.is_listed(phone="+355691234567")) is True


pytestmark = pytest.mark.slow
