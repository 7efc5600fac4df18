"""The Patients page in Chromium: search by name (accents or not) and by any digits, numbers
masked in the list HTML, a number revealed only by a POST and audited without the number."""

from __future__ import annotations

from typing import Any

import pytest

from dashboard.pages import patients
from tests.dashboard.conftest import LiveDashboard, sign_in

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
