"""The dashboard's pages timed whole: request in, HTML out, through the real ASGI app.

Each page is asked for by a signed-in admin (the role that sees the most) through
``httpx.ASGITransport`` on :func:`dashboard.app.create_dashboard`: the session check, every query
the page makes, the template and its translations are timed; the network is not (the service
adds its socket and uvicorn's parsing, a fraction of a millisecond on 127.0.0.1, see
bench/serve_bench.py). Only pages the app serves are measured, so a page not built yet is
missing from the table rather than counted as fast.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx

from app.application import open_application
from bench.common import NOW, fixed_clock
from config.settings import load_settings
from dashboard.accounts import hash_password
from dashboard.app import create_dashboard
from dashboard.nav import api_routes
from dashboard.sessions import SESSION_COOKIE, token_hash
from storage import Store
from storage.cursors import encode

BENCH_USER = "bench-admin"


@dataclass(frozen=True)
class PageCase:
    """One page request: the page, what is asked, and its URL."""

    page: str
    label: str
    url: str


async def page_cases(store: Store, served: set[str]) -> list[PageCase]:
    """The page requests, with ids and cursors picked from the seeded data.

    Args:
        store: The seeded store.
        served: The route paths the dashboard has (pages not built yet are left out).
    """
    db = store.db
    total = await db.scalar("SELECT count(*) FROM calls")
    deep = await db.row(
        "SELECT started_at, id FROM calls ORDER BY started_at DESC, id DESC LIMIT 1 OFFSET ?",
        (total // 2,),
    )
    deep_cursor = encode("calls", (deep["started_at"], deep["id"])) if deep else ""
    call = await db.scalar(
        "SELECT id FROM calls WHERE transcript != '[]' ORDER BY started_at DESC LIMIT 1"
    )
    campaign = await db.scalar("SELECT id FROM campaigns ORDER BY id LIMIT 1") or 1
    patient = (
        await db.scalar(
            "SELECT patient_id FROM calls WHERE patient_id IS NOT NULL"
            " ORDER BY started_at DESC LIMIT 1"
        )
        or 1
    )
    day = NOW.date().isoformat()
    deep_label = f"list, page at row {total // 2:,}"
    wanted = [
        ("/today", PageCase("Today", "figures, chart, live part", "/today")),
        ("/calendar", PageCase("Calendar", "day", f"/calendar?day={day}")),
        ("/calendar", PageCase("Calendar", "week", f"/calendar?day={day}&view=week")),
        ("/calls", PageCase("Calls", "list, first page", "/calls")),
        ("/calls", PageCase("Calls", deep_label, f"/calls?cursor={deep_cursor}")),
        ("/calls", PageCase("Calls", "list, outcome booked", "/calls?outcome=booked")),
        ("/calls/{call_id}", PageCase("Call", "detail with transcript", f"/calls/{call}")),
        ("/follow-ups", PageCase("Follow-ups", "queue, first page", "/follow-ups")),
        ("/campaigns", PageCase("Campaigns", "list", "/campaigns")),
        ("/campaigns/{campaign_id:int}", PageCase("Campaign", "funnel", f"/campaigns/{campaign}")),
        ("/patients", PageCase("Patients", "search by name", "/patients?q=hoxha")),
        ("/patients", PageCase("Patients", "search by digits", "/patients?q=0691234")),
        ("/patients/{patient_id:int}", PageCase("Patient", "page", f"/patients/{patient}")),
        ("/do-not-call", PageCase("Do-not-call", "list, first page", "/do-not-call")),
        ("/clinic", PageCase("Clinic", "profile", "/clinic")),
        ("/audit", PageCase("Audit log", "first page", "/audit")),
    ]  # fmt: skip
    return [case for path, case in wanted if path in served]


async def measure_pages(
    path: Path, folder: Path, *, runs: int, warmup: int
) -> dict[tuple[str, str], list[float]]:
    """Time every page ``runs`` times in turn (after ``warmup`` rounds), in milliseconds.

    Args:
        path: The seeded database.
        folder: Where the application's log file goes.
        runs: Timed rounds.
        warmup: Untimed rounds first.
    """
    settings = load_settings(
        env_file=None, database={"path": path}, logging={"file": folder / "elo.jsonl"}
    )
    async with open_application(settings, clock=fixed_clock) as app:
        store = app.store
        user = await store.users.get(name=BENCH_USER) or await store.users.add(
            name=BENCH_USER,
            role="admin",
            password_hash=hash_password(secrets.token_urlsafe(16)),
            language="en",
        )
        token = secrets.token_urlsafe(32)
        await store.users.create_session(
            user_id=user.id,
            token_hash=token_hash(token),
            csrf_token=secrets.token_urlsafe(32),
            expires_at=NOW + timedelta(days=1),
        )
        web = create_dashboard(app)
        served = {route.path for route in api_routes(web.routes)}
        cases = await page_cases(store, served)
        results: dict[tuple[str, str], list[float]] = {(c.page, c.label): [] for c in cases}
        transport = httpx.ASGITransport(app=web)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://elo", cookies={SESSION_COOKIE: token}
        ) as client:
            for round_ in range(warmup + runs):
                for case in cases:
                    started = time.perf_counter()
                    response = await client.get(case.url)
                    elapsed = (time.perf_counter() - started) * 1000
                    if response.status_code != 200:
                        raise RuntimeError(f"{case.url}: HTTP {response.status_code}")
                    if round_ >= warmup:
                        results[(case.page, case.label)].append(elapsed)
    return results
