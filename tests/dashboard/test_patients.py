"""The Patients page in Chromium: search by name (accents or not) and by any digits, numbers
masked in the list HTML, a number revealed only by a POST and audited without the number; a
patient's page (audited view, masked number, their appointments, calls, follow-ups and
do-not-call status), and admins' export and erasure of a patient (staff refused, also by URL)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dashboard.i18n import format_when
from dashboard.pages import patients
from tests.dashboard.conftest import LiveDashboard, csrf_of, sign_in

pytestmark = pytest.mark.browser
MARKUP = "<img src=x onerror=alert(1)>"
PEOPLE = {
    "Ëndrit Çela": "+355691112201",
    "Endrit Berisha": "+355682223302",
    "Besa Hoxha": "+355693334403",
    MARKUP: "+355674445504",
}


def _seed(live: LiveDashboard) -> dict[str, int]:
    ids = {}
    for name, number in PEOPLE.items():
        patient, _ = live.run(live.app.store.patients.upsert(phone=number, name=name))
        ids[name] = patient.id
    return ids


def _search(page: Any, query: str) -> list[str]:
    page.fill("#q", query)
    page.click("form.search button")
    return page.locator("tr.patient td.person").all_inner_texts()


def _no_full_number(html: str) -> None:
    for number in PEOPLE.values():
        assert number[1:] not in html and number[4:] not in html  # neither +355... nor 69...


def test_search_by_name_with_and_without_accents_and_by_digits(
    live: LiveDashboard, page: Any, check_page: Any
) -> None:
    _seed(live)
    live.add_user("Staff", role="staff")
    sign_in(page, "Staff")
    page.goto("/patients")  # nothing typed: everyone, by name
    assert page.locator("tr.patient").count() == 4
    assert _search(page, "endrit") == ["Endrit Berisha", "Ëndrit Çela"]
    assert _search(page, "ËNDRIT çela") == ["Ëndrit Çela"]
    assert _search(page, "cela") == ["Ëndrit Çela"]
    masked = page.locator("tr.patient td.phone").inner_text()
    assert masked == "+355*******01"
    _no_full_number(page.content())
    assert _search(page, "222 33") == ["Endrit Berisha"]  # any digits, spaces allowed
    assert _search(page, "0693") == ["Besa Hoxha"]  # a national 0 is dropped
    assert _search(page, "069 333 4403") == ["Besa Hoxha"]  # a whole number: exact
    assert _search(page, "onerror") == [MARKUP]  # a name typed as markup shows as text
    _no_full_number(page.content())
    assert _search(page, "12") == []
    assert page.inner_text(".error") == "Type a name, or at least 3 digits of the number."
    assert _search(page, "nobody") == []
    assert "No patient found." in page.inner_text("main")
    _search(page, "")
    check_page(page, "patients")


def test_a_number_is_revealed_only_after_the_post_and_audited(
    live: LiveDashboard, page: Any, check_page: Any
) -> None:
    ids = _seed(live)
    besa = PEOPLE["Besa Hoxha"]
    live.add_user("Staff", role="staff")
    sign_in(page, "Staff")
    page.goto("/patients")
    _search(page, "besa")
    assert besa not in page.content()
    assert page.locator("a[href*=reveal]").count() == 0  # a form, never a link
    form = page.locator(f"#patient-{ids['Besa Hoxha']} form")
    assert form.get_attribute("method") == "post"
    assert page.request.get(f"/patients/{ids['Besa Hoxha']}/reveal").status == 405
    assert [e for e in live.audit() if e.action == "patient.reveal_number"] == []

    form.locator("button", has_text="Reveal number").click()
    assert page.url == f"{live.url}/patients/{ids['Besa Hoxha']}/reveal"
    assert page.locator(f"#patient-{ids['Besa Hoxha']} td.phone").inner_text() == besa
    assert page.content().count(besa) == 1  # that one number, once
    assert "recorded in the audit log" in page.inner_text(".notice")
    (entry,) = [e for e in live.audit() if e.action == "patient.reveal_number"]
    assert (entry.actor, entry.subject) == ("web:Staff", f"patient:{ids['Besa Hoxha']}")
    assert besa[4:] not in repr(entry) and "Besa" not in repr(entry.model_dump(exclude={"actor"}))
    check_page(page, "patients-revealed")

    page.goto("/patients?q=besa")  # the number is not kept anywhere: masked again
    assert besa not in page.content()


def test_pages_of_results_keep_the_query(
    live: LiveDashboard, page: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(patients, "PAGE_SIZE", 1)
    _seed(live)
    live.add_user("Staff", role="staff")
    sign_in(page, "Staff")
    page.goto("/patients")
    assert _search(page, "endrit") == ["Endrit Berisha"]
    page.click("text=Next page")
    assert page.locator("tr.patient td.person").all_inner_texts() == ["Ëndrit Çela"]
    assert page.input_value("#q") == "endrit"
    assert page.locator("a", has_text="Next page").count() == 0
    # Revealing on the second page answers with the second page.
    page.locator("tr.patient button").click()
    assert page.locator("tr.patient td.phone").inner_text() == PEOPLE["Ëndrit Çela"]
    assert page.locator("tr.patient td.person").all_inner_texts() == ["Ëndrit Çela"]


def _seed_record(live: LiveDashboard) -> tuple[int, datetime, datetime]:
    """Besa Hoxha with an appointment tomorrow and one last week, a call, an open follow-up
    whose reason is markup, and her number on the do-not-call list (added on the dashboard)."""
    besa = PEOPLE["Besa Hoxha"]
    now = live.clock.now
    tomorrow = (now + timedelta(days=1)).replace(hour=10, minute=0, second=0)
    last_week = (now - timedelta(days=7)).replace(hour=10, minute=0, second=0)

    async def seed() -> int:
        store = live.app.store
        for start in (tomorrow, last_week):
            await store.appointments.book(
                phone=besa,
                name="Besa Hoxha",
                service_id="checkup",
                starts_at=start,
                ends_at=start + timedelta(minutes=30),
                slot=timedelta(minutes=30),
                chairs=1,
                price_lek=2000,
                source="agent",
            )
        patient = await store.patients.get(phone=besa)
        await store.calls.start(call_id="call-besa", patient_id=patient.id, phone=besa)
        await store.calls.finish(call_id="call-besa", outcome="follow_up", outcome_reason=None)
        await store.follow_ups.create(
            phone=besa,
            name="Besa Hoxha",
            due_at=tomorrow,
            reason=MARKUP,
            source="agent",
            call_id="call-besa",
        )
        await store.dnc.add(phone=besa, reason="asked at the desk", source="web")
        return patient.id

    return live.run(seed()), tomorrow, last_week


def test_a_patients_page_for_staff_is_audited_and_masks_the_number(
    live: LiveDashboard, page: Any, check_page: Any
) -> None:
    _seed(live)
    besa = PEOPLE["Besa Hoxha"]
    patient_id, tomorrow, last_week = _seed_record(live)
    live.add_user("Staff", role="staff")
    sign_in(page, "Staff")
    page.goto("/patients")
    _search(page, "besa")
    page.click(f"#patient-{patient_id} td.person a")
    assert page.url == f"{live.url}/patients/{patient_id}"
    assert page.inner_text("h1") == "Besa Hoxha"
    assert page.inner_text("#who .phone") == "+355*******03"
    _no_full_number(page.content())
    (upcoming,) = page.locator("#upcoming tbody tr").all_inner_texts()
    assert "General check-up" in upcoming and "Scheduled" in upcoming
    assert format_when(tomorrow, "en") in upcoming
    (past,) = page.locator("#past tbody tr").all_inner_texts()
    assert format_when(last_week, "en") in past
    assert page.locator("#patient-calls a").get_attribute("href") == "/calls/call-besa"
    assert "Callback asked for" in page.inner_text("#patient-calls")
    assert MARKUP in page.inner_text("#patient-follow-ups")  # shown as text, not markup
    assert "Elo never calls this number" in page.inner_text("#dnc")
    assert "Dashboard" in page.inner_text("#dnc")
    # Staff see neither the export nor the erasure.
    assert page.locator("#export, #erase").count() == 0
    (view,) = [e for e in live.audit() if e.action == "patient.view"]
    assert (view.actor, view.subject) == ("web:Staff", f"patient:{patient_id}")
    check_page(page, "patient")

    # The number: the same audited POST as the search's, answered with this page.
    page.click("#reveal button")
    assert page.url == f"{live.url}/patients/{patient_id}/reveal"
    assert page.inner_text("#who .phone") == besa
    assert page.content().count(besa) == 1
    (reveal,) = [e for e in live.audit() if e.action == "patient.reveal_number"]
    assert (reveal.actor, reveal.subject) == ("web:Staff", f"patient:{patient_id}")

    # Export and erasure are for admins, also by direct URL with staff's own token.
    token = csrf_of(page)
    for path in ("export", "erase"):
        answer = page.request.post(f"/patients/{patient_id}/{path}", form={"csrf_token": token})
        assert answer.status == 403, path
    assert page.goto(f"/patients/{patient_id}/erase").status == 403
    assert not [e for e in live.audit() if e.action.startswith("privacy.")]
    assert live.run(live.app.store.patients.get(phone=besa)) is not None
    assert page.goto("/patients/999999").status == 404


def test_an_admin_exports_and_erases_a_patient(
    live: LiveDashboard, page: Any, check_page: Any
) -> None:
    _seed(live)
    besa = PEOPLE["Besa Hoxha"]
    patient_id, _, _ = _seed_record(live)
    live.add_user("Admin", role="admin")
    sign_in(page, "Admin")
    page.goto(f"/patients/{patient_id}")
    with page.expect_download() as download:
        page.click("#export button")
    assert download.value.suggested_filename == f"patient-{patient_id}.json"
    export = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert export["phone"] == besa
    assert (export["patient"]["id"], export["patient"]["name"]) == (patient_id, "Besa Hoxha")
    assert [c["id"] for c in export["calls"]] == ["call-besa"]
    assert len(export["appointments"]) == 2 and export["do_not_call"]["source"] == "web"
    (exported,) = [e for e in live.audit() if e.action == "privacy.export"]
    assert exported.actor == "web:Admin"
    assert exported.subject == live.app.store.privacy.subject_hash(besa)

    page.click("#erase")
    assert page.url == f"{live.url}/patients/{patient_id}/erase"
    assert page.inner_text(".phone") == "+355*******03"
    _no_full_number(page.content())
    check_page(page, "patient-erase")
    assert live.run(live.app.store.patients.get(phone=besa)) is not None  # not before the yes
    page.click("text=Yes, erase this patient")
    assert page.url == f"{live.url}/patients?done=erased"
    assert page.inner_text(".notice") == "The patient was erased."
    assert _search(page, "besa") == []
    assert live.run(live.app.store.patients.get(phone=besa)) is None
    assert live.run(live.app.store.dnc.is_listed(phone=besa))  # kept as a keyed hash
    (erased,) = [e for e in live.audit() if e.action == "privacy.erase"]
    assert (erased.actor, erased.subject) == ("web:Admin", exported.subject)
    assert "Besa" not in repr(erased) and besa[4:] not in repr(erased)
    assert page.goto(f"/patients/{patient_id}").status == 404


def test_a_patients_language_shows_by_its_own_name_italian_too(
    live: LiveDashboard, page: Any
) -> None:
    # Patients speak sq, en or it (validation.languages); staff's own pages stay sq and en.
    for name, number, language in (
        ("Besa Hoxha", "+355693334403", "sq"),
        ("Endrit Berisha", "+355682223302", "en"),
        ("Giulia Romano", "+355674445504", "it"),
    ):
        live.run(live.app.store.patients.upsert(phone=number, name=name, language=language))
    live.add_user("Staff", role="staff")
    sign_in(page, "Staff")
    page.goto("/patients")
    rows = page.locator("tr.patient")
    shown = {
        rows.nth(i).locator("td.person").inner_text(): rows.nth(i)
        .locator("td.language")
        .inner_text()
        for i in range(rows.count())
    }
    assert shown == {
        "Besa Hoxha": "Shqip",
        "Endrit Berisha": "English",
        "Giulia Romano": "Italiano",
    }
