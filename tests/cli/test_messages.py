"""`elo reminders run --once` and `elo messages list` as real subprocesses, real SMTP server."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

from storage import Store
from storage.outbox_plan import OutboxPlan
from tests.cli.test_main import ok_json, run_elo
from tests.conftest import TIRANE
from tests.messaging.fakes import SmtpServer

ARTA = "+355691234567"
EMAIL = "arta.hoxha@example.com"
# Messages may go at any hour in these tests: the real clock decides when they run.
ANY_TIME = {
    "ELO_CALLING__WINDOW_DAYS": "mon,tue,wed,thu,fri,sat,sun",
    "ELO_CALLING__WINDOW_INTERVALS": "00:00-24:00",
    "ELO_CALLING__SKIP_PUBLIC_HOLIDAYS": "false",
}


def _email_env(server: SmtpServer) -> dict[str, str]:
    return {
        **ANY_TIME,
        "ELO_EMAIL__HOST": "127.0.0.1",
        "ELO_EMAIL__PORT": str(server.port),
        "ELO_EMAIL__TLS": "plain",
        "ELO_EMAIL__FROM_ADDRESS": "Klinika <info@buzeqeshja.example>",
    }


async def _book(db: Path, *, plan: OutboxPlan, days: int, email: str | None = EMAIL) -> None:
    store = await Store.open(db, tz=TIRANE)
    try:
        store.db.outbox = plan
        await store.patients.upsert(phone=ARTA, name="Arta Hoxha", email=email)
        start = datetime.now(TIRANE).replace(hour=10, minute=0, second=0, microsecond=0)
        start += timedelta(days=days)
        await store.appointments.book(
            phone=ARTA,
            name="Arta Hoxha",
            service_id="checkup",
            starts_at=start,
            ends_at=start + timedelta(minutes=30),
            slot=timedelta(minutes=30),
            chairs=3,
            price_lek=2000,
            source="agent",
        )
    finally:
        await store.close()


def test_reminders_run_once_sends_the_confirmation_and_plans_old_appointments(
    tmp_path: Path,
) -> None:
    db = tmp_path / "env.db"
    assert run_elo(tmp_path, "db", "init").returncode == 0
    server = SmtpServer().start()
    try:
        asyncio.run(_book(db, plan=OutboxPlan(channels=frozenset({"email"})), days=3))
        # An appointment made before messages existed: no rows until the planner sees it
        # (within 2 days, the largest offset, and 72 hours ahead).
        asyncio.run(_book(db, plan=OutboxPlan(channels=frozenset()), days=4))
        result = run_elo(tmp_path, "reminders", "run", "--once", env=_email_env(server))
        assert result.returncode == 0, result.stderr
        line = result.stdout.strip()
        assert line.startswith("planned 2 reminders; sent 1 (recovered 0)"), line
        assert "\n" not in line
        assert [m["To"] for m in server.mails()] == [EMAIL]
        again = run_elo(tmp_path, "reminders", "run", "--once", env=_email_env(server))
        assert again.stdout.startswith("planned 0 reminders; sent 0")
        assert len(server.mails()) == 1
    finally:
        server.stop()
    sent = ok_json(run_elo(tmp_path, "messages", "list", "--status", "sent"))
    assert [(m["kind"], m["channel"]) for m in sent] == [("confirmation", "email")]
    assert EMAIL not in str(sent) and sent[0]["to"].endswith("com")
    listing = ok_json(run_elo(tmp_path, "messages", "list", "--limit", "3"))
    assert len(listing) == 3 and {m["kind"] for m in listing} == {"reminder"}


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    for args in (
        ("reminders", "run", "--once"),  # no channel configured
        ("messages", "list", "--limit", "0"),
        ("messages", "list", "--status", "lost"),
        ("reminders",),
    ):
        result = run_elo(tmp_path, *args)
        assert result.returncode == 2, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.stderr


def test_opt_out_stops_a_patients_channel(tmp_path: Path) -> None:
    db = tmp_path / "env.db"
    assert run_elo(tmp_path, "db", "init").returncode == 0
    asyncio.run(_book(db, plan=OutboxPlan(), days=3))
    result = run_elo(tmp_path, "messages", "opt-out", "069 123 4567", "--channel", "email")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "opted out of email messages"
    listing = ok_json(run_elo(tmp_path, "messages", "list"))
    emails = {m["status"] for m in listing if m["channel"] == "email"}
    assert emails == {"skipped"} and {
        m["last_error"] for m in listing if m["channel"] == "email"
    } == {"opted out"}
    assert {m["status"] for m in listing if m["channel"] == "sms"} == {"pending"}
    unknown = run_elo(tmp_path, "messages", "opt-out", "+355682223344", "--channel", "sms")
    assert unknown.returncode == 2 and "no patient" in unknown.stderr
