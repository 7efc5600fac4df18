"""``make demo-campaign``: the whole rehearsal campaign, run as the command runs it."""

from __future__ import annotations

import json
import sqlite3
import wave
from pathlib import Path

import phonenumbers
import pytest

from demo.campaign_rehearsal import CONTACTS, main


def _phone_forms(raw: str) -> set[str]:
    """Every usual way of writing the number, so none can slip into the output unnoticed."""
    number = phonenumbers.parse(raw, "AL")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    international = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return {raw, e164, e164[1:], national, national.replace(" ", ""), international}


def _status(printed: str) -> dict:
    block = printed.split("campaign_status:\n", 1)[1].split("\n\nAttempts:", 1)[0]
    return json.loads(block)


@pytest.mark.slow
def test_the_rehearsal_campaign_books_reaches_a_machine_and_meets_a_busy_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "campaign"
    assert main(["--out", str(out)]) == 0
    captured = capsys.readouterr()
    printed = captured.out

    assert "SCRIPTED local emulator, not Gemini" in printed
    assert "SCRIPTED local LiveKit fake: nobody is called" in printed
    assert "dialled 3 | answered 2 | booked 1" in printed  # the ProgressLine of the runner
    status = _status(printed)
    assert (status["name"], status["contacts_total"], status["attempts"]) == ("Rehearsal", 3, 3)
    assert {k: v for k, v in status["outcomes"].items() if v} == {
        "booked": 1,
        "voicemail": 1,
        "busy": 1,
    }
    assert status["revenue_booked_lek"] > 0 and status["in_progress"] == 0
    assert "attempt 1: contact 1, outcome booked, SIP 200 OK" in printed
    assert "attempt 2: contact 2, outcome voicemail, SIP 200 OK" in printed
    assert "attempt 3: contact 3, outcome busy, SIP 486 Busy Here" in printed

    with sqlite3.connect(out / "campaign.db") as db:
        attempts = db.execute(
            "SELECT a.outcome, a.sip_status, c.outcome FROM call_attempts a"
            " JOIN calls c ON c.id = a.call_id ORDER BY a.id"
        ).fetchall()
        booked = db.execute("SELECT source, call_id FROM appointments").fetchall()
        first_call = db.execute("SELECT call_id FROM call_attempts WHERE id = 1").fetchone()[0]
        contacts = db.execute("SELECT phone FROM campaign_contacts ORDER BY id").fetchall()
    assert attempts == [
        ("booked", "200 OK", "booked"),
        ("voicemail", "200 OK", "voicemail"),
        ("busy", "486 Busy Here", "not_answered"),
    ]
    assert booked == [("agent", first_call)]
    # The numbers given in the demo pass validation and are stored in E.164.
    assert [row[0] for row in contacts] == [
        phonenumbers.format_number(
            phonenumbers.parse(c.phone, "AL"), phonenumbers.PhoneNumberFormat.E164
        )
        for c in CONTACTS
    ]

    # Elo's audio for the two answered calls only.
    assert sorted(p.name for p in out.glob("*.wav")) == [
        "attempt-1-booked.wav",
        "attempt-2-voicemail.wav",
    ]
    for name in ("attempt-1-booked.wav", "attempt-2-voicemail.wav"):
        with wave.open(str(out / name), "rb") as wav:
            assert wav.getnframes() > 0

    seen = captured.out + captured.err + (out / "campaign.jsonl").read_text()
    for contact in CONTACTS:
        for form in _phone_forms(contact.phone):
            assert form not in seen, form
        assert contact.name not in seen


def test_an_unrelated_folder_is_never_emptied(tmp_path: Path, capsys) -> None:
    keep = tmp_path / "notes.txt"
    keep.write_text("mine")
    assert main(["--out", str(tmp_path)]) == 2
    assert keep.read_text() == "mine"
    assert "use another --out" in capsys.readouterr().out
