"""The dashboard's browser tests: the real service HTTP app in uvicorn, and Debian's Chromium.

Fixtures for page authors (one test per page is enough to start):

- ``live``: the service's HTTP app (``service.http.create_http_app``, the dashboard mounted)
  served by uvicorn on 127.0.0.1 over a real SQLite file in ``tmp_path``, on a thread of its
  own. ``live.url``; ``live.run(coro)`` runs a coroutine on the server's loop (e.g.
  ``live.run(live.app.store.audit.list())``) to seed or read data; ``live.add_user(name,
  role=..., language=..., totp=True)``; ``live.clock`` (a :class:`ManualClock` at the real time;
  move it with ``live.advance(minutes=16)``); ``live.board``: the service's real
  ``service.live_calls.LiveCallBoard`` (the dashboard's ``live``), to report calls to as the
  service's ``CallTracker`` does (on the server's loop: ``live.run(...)``).
- ``browser``: one headless Chromium per test module; ``page``: a fresh context (1280x800,
  English) whose dialogs are recorded in ``page.dialogs`` (a test fails if one opens unexpectedly).
- ``sign_in(page, name, password=PASSWORD)``: signs in through the login form;
  ``start_path(role)`` is where it lands.
- ``check_page(page, label)``: screenshots at 1280x800 and 820x1180 (kept under
  ``$ELO_TEST_ARTIFACTS/dashboard`` or pytest's temp folder; each must have more than one colour)
  and axe-core in the page: no serious or critical violation.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import re
import socket
import threading
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from config.settings import AppSettings, load_settings
from devtools.clock import ManualClock
from tests.conftest import SAMPLE_PROFILE, TIRANE

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AXE = Path(__file__).resolve().parents[1] / "fixtures" / "vendor" / "axe-core" / "axe.min.js"
PASSWORD = "a long enough password"
SIZES = {"desktop": (1280, 800), "tablet": (820, 1180)}


@dataclass
class LiveDashboard:
    """The running service: its URL, its application and a way onto its event loop."""

    url: str
    app: Any
    loop: asyncio.AbstractEventLoop
    clock: ManualClock
    settings: AppSettings
    board: Any = None
    stop: Callable[[], None] = field(repr=False, default=lambda: None)

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run ``coro`` on the server's event loop (where its database connection lives)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def advance(self, **delta: float) -> None:
        """Move the service's clock forward, e.g. ``advance(minutes=16)``."""
        self.clock.now = self.clock.now + timedelta(**delta)

    def add_user(
        self,
        name: str,
        *,
        role: str = "staff",
        language: str = "en",
        password: str = PASSWORD,
        totp: bool = False,
    ) -> str | None:
        """Add a user as ``elo user add`` would; returns the TOTP secret when ``totp``."""
        from dashboard.accounts import hash_password, new_totp_secret

        store = self.app.store
        self.run(
            store.users.add(
                name=name, role=role, password_hash=hash_password(password), language=language
            )
        )
        if not totp:
            return None
        secret = new_totp_secret()
        self.run(store.users.set_totp(name=name, secret=secret))
        return secret

    def audit(self) -> list[Any]:
        """The audit trail, newest first."""
        return self.run(self.app.store.audit.list(limit=1000))


def _serve(
    settings: AppSettings,
    clock: ManualClock,
    sock: socket.socket,
    out: dict,
    dashboard_only: bool = False,
) -> None:
    import uvicorn

    from app.application import open_application
    from dashboard.app import create_dashboard
    from service.http import create_http_app

    class Quiet(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield  # the test runner owns the signals

    async def main() -> None:
        async with open_application(settings, clock=clock) as app:
            # dashboard_only: the dashboard as a process without the service would serve it
            # (no calls in progress to show: ``live`` is None).
            http = create_dashboard(app) if dashboard_only else create_http_app(app)
            config = uvicorn.Config(http, log_config=None, access_log=False, lifespan="off")
            server = Quiet(config)
            out.update(
                app=app,
                loop=asyncio.get_running_loop(),
                server=server,
                board=getattr(http.state, "live", None),
            )
            task = asyncio.create_task(server.serve(sockets=[sock]))
            while not server.started and not task.done():  # noqa: ASYNC110 - uvicorn has no event
                await asyncio.sleep(0.01)
            out["ready"].set()
            await task
            if not dashboard_only:
                await http.state.inbound.drain(timeout_s=0)

    try:
        asyncio.run(main())
    except BaseException as exc:  # reported to the fixture, which fails the test with it
        out["error"] = exc
        out["ready"].set()


@contextlib.contextmanager
def serving(
    settings: AppSettings, clock: ManualClock, *, dashboard_only: bool = False
) -> Iterator[LiveDashboard]:
    """The service's HTTP app (or, ``dashboard_only``, the bare dashboard with no live calls)
    on a free port of 127.0.0.1 until the block ends."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    out: dict[str, Any] = {"ready": threading.Event()}
    thread = threading.Thread(
        target=_serve, args=(settings, clock, sock, out, dashboard_only), daemon=True
    )
    thread.start()
    if not out["ready"].wait(60) or "error" in out:
        raise RuntimeError(f"the dashboard did not start: {out.get('error')!r}")
    live = LiveDashboard(
        url=f"http://127.0.0.1:{port}",
        app=out["app"],
        loop=out["loop"],
        clock=clock,
        settings=settings,
        board=out["board"],
    )
    try:
        yield live
    finally:
        out["server"].should_exit = True
        thread.join(30)
        sock.close()
        assert not thread.is_alive(), "the dashboard's server did not stop"


@pytest.fixture
def dashboard_settings(tmp_path: Path) -> dict[str, Any]:
    """Overrides of the ``dashboard`` settings group for the ``live`` service (edit in a test's
    own fixture before ``live`` is made)."""
    return {}


def served_settings(tmp_path: Path, dashboard: dict[str, Any] | None = None) -> AppSettings:
    """The settings of a served dashboard: database, log file and clinic profile in ``tmp_path``.

    The profile is a copy of the sample clinic: the Clinic page writes its profile, never the
    repository's.
    """
    profile = tmp_path / "clinic.toml"
    if not profile.exists():
        profile.write_bytes(SAMPLE_PROFILE.read_bytes())
    return load_settings(
        env_file=None,
        database={"path": tmp_path / "elo.db"},
        logging={"file": tmp_path / "logs" / "elo.jsonl"},
        clinic={"profile_path": profile},
        dashboard=dashboard or {},
    )


@pytest.fixture
def live(tmp_path: Path, dashboard_settings: dict[str, Any]) -> Iterator[LiveDashboard]:
    settings = served_settings(tmp_path, dashboard_settings)
    clock = ManualClock(datetime.now(TIRANE).replace(microsecond=0))
    with serving(settings, clock) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Per module, not per session: Playwright's sync API keeps an event loop running in this
    # thread while it is open, and pytest-asyncio's tests of later modules need it gone.
    if not CHROMIUM.exists():
        pytest.skip("needs /usr/bin/chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def new_page(browser: Any, live: LiveDashboard, *, locale: str = "en-GB") -> Any:
    """A page in a fresh browser context (its own cookies) whose dialogs are recorded."""
    context = browser.new_context(
        base_url=live.url, viewport={"width": 1280, "height": 800}, locale=locale
    )
    page = context.new_page()
    page.dialogs = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    return page


@pytest.fixture
def page(browser: Any, live: LiveDashboard) -> Iterator[Any]:
    page = new_page(browser, live)
    yield page
    dialogs = page.dialogs
    page.context.close()
    assert dialogs == [], f"a dialog opened: {dialogs}"


def sign_in(page: Any, name: str, password: str = PASSWORD) -> None:
    """Sign in through the login form as a new visitor (the page's cookies are cleared first);
    lands wherever the dashboard sends the user."""
    page.context.clear_cookies()
    page.goto("/login")
    page.fill("#name", name)
    page.fill("#password", password)
    page.click("main button[type=submit]")
    page.wait_for_load_state()


def start_path(role: str) -> str:
    """Where signing in lands a user of ``role``: the first header page they see, else their
    account page (``/`` in dashboard/app.py); it moves as pages are added."""
    from dashboard.pages import PAGES

    entries = sorted(
        (p.nav for p in PAGES if p.nav is not None and p.nav.visible_to(role)),
        key=lambda entry: entry.order,
    )
    return entries[0].path if entries else "/account"


def csrf_of(page: Any) -> str:
    """The CSRF token the current page's forms carry."""
    return page.locator("input[name=csrf_token]").first.get_attribute("value")


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots go: ``$ELO_TEST_ARTIFACTS/dashboard``, else pytest's temp folder."""
    base = os.environ.get("ELO_TEST_ARTIFACTS")
    folder = Path(base) / "dashboard" if base else tmp_path_factory.mktemp("dashboard-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def colours(png: bytes) -> int:
    """How many different colours a screenshot has (up to 2, enough to tell it is not blank)."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        found = image.convert("RGB").getcolors(maxcolors=2)
    return 3 if found is None else len(found)


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations of the page as it is now."""
    # Evaluated over the DevTools protocol, which the page's Content-Security-Policy does not
    # govern (an injected <script> would be refused, as it should be).
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;undefined")
    result = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [
        {
            "id": item["id"],
            "impact": item["impact"],
            "help": item["help"],
            "nodes": [node["target"] for node in item["nodes"]][:5],
        }
        for item in result
        if item["impact"] in ("serious", "critical")
    ]


def unreadable_controls(page: Any) -> list[str]:
    """Buttons and links whose text has their own background's colour.

    axe-core leaves such text "incomplete" rather than a violation (it cannot tell the colour
    behind text of the background's colour), so two CSS rules merging into red on red pass it.
    """
    return page.evaluate(
        """() => [...document.querySelectorAll('button, a, [role=button]')]
            .filter((el) => el.offsetParent !== null && el.innerText.trim() !== '')
            .filter((el) => {
                const style = getComputedStyle(el);
                return style.backgroundColor !== 'rgba(0, 0, 0, 0)'
                    && style.color === style.backgroundColor;
            })
            .map((el) => el.innerText.trim())"""
    )


@pytest.fixture
def check_page(artifacts: Path) -> Callable[[Any, str], None]:
    """Screenshot the page at desktop and tablet sizes (not blank), run axe on each, and check
    no button or link has text in its background's colour."""

    def check(page: Any, label: str) -> None:
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", label)
        for size, (width, height) in SIZES.items():
            page.set_viewport_size({"width": width, "height": height})
            png = page.screenshot(full_page=True, path=str(artifacts / f"{safe}-{size}.png"))
            assert colours(png) > 1, f"{label} at {size} is blank"
            violations = axe_violations(page)
            assert violations == [], json.dumps(violations, indent=1)
            assert unreadable_controls(page) == [], f"{label}: text in its background's colour"
        page.set_viewport_size({"width": 1280, "height": 800})

    return check
