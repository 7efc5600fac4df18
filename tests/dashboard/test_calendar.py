"""The Calendar page in Chromium: staff see a day and a week per chair, book through the form
(two browsers racing for one time: one wins, the other is offered the nearest free times),
cancel with a reason and mark a started appointment; bad input is refused in the user's
language with what was typed kept, and nothing is written."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import pytest

from dashboard.calendar_forms import desk_of
from tests.dashboard.conftest import LiveDashboard, new_page, sign_in

pytestmark = pytest.mark.browser
MARKUP = "<img src=x onerror=alert(1)>"


def open_day(live: LiveDashboard) -> date:
    """A weekday at least a week after the service's clock on which the clinic is open."""
    desk = desk_of(live.app)
    day = live.clock.now.date() + timedelta(days=7)
    while True:
        view = live.run(desk.day(day=day))
        if day.weekday() < 5 and view.closed_reason is None:
            return day
        day += timedelta(days=1)


def entries(live: LiveDashboard, day: date) -> list[Any]:
    view = live.run(desk_of(live.app).day(day=day, include_cancelled=True))
    return sorted((e for c in view.chairs for e in c.appointments), key=lambda e: e.id)


def fill_booking(page: Any, *, phone: str, name: str) -> None:
    page.fill("#b-phone", phone)
    page.fill("#b-name", name)


def test_staff_book_and_see_it_on_the_day_and_the_week(
    live: LiveDashboard, page: Any, check_page: Any
) -> None:
    live.add_user("Drita", role="staff")
    sign_in(page, "Drita")
    day = open_day(live)
    service = live.app.clinic.services[0]
    page.goto(f"/calendar?day={day.isoformat()}")
    # A free time's link fills in the form's day, time and chair.
    page.click("#chair-2 ~ ul.free a >> nth=0")
    assert page.input_value("#b-day") == day.isoformat()
    assert page.input_value("#b-chair") == "2"
    page.fill("#b-time", "10:00")
    page.select_option("#b-service", service.id)
    fill_booking(page, phone="069 123 4567", name="Arta Hoxha")
    page.click("#book-form button[type=submit]")
    assert "The appointment was booked." in page.inner_text("main")
    [booked] = entries(live, day)
    assert (booked.chair, booked.starts_at.time(), booked.service_id) == (2, time(10), service.id)
    assert booked.source == "staff"
    item = page.inner_text(f"#appointment-{booked.id}")
    assert "10:00" in item and service.name.en in item and "Arta Hoxha" in item
    assert "Scheduled" in item and "+355" in item and "1234567" not in item  # masked
    check_page(page, "calendar-day")
    page.goto(f"/calendar?day={day.isoformat()}&view=week")
    week = page.inner_text("#calendar-week")
    assert "Arta Hoxha" in week and "Chair 2" in week
    check_page(page, "calendar-week")
    [entry] = [e for e in live.audit() if e.actor == "web:Drita" and "book" in e.action]
    assert "Arta" not in str(entry) and "1234567" not in str(entry)


def test_two_browsers_race_for_one_time_and_the_loser_books_an_alternative(
    live: LiveDashboard, page: Any, browser: Any, check_page: Any
) -> None:
    live.add_user("Drita", role="staff")
    live.add_user("Besa", role="staff", language="sq")
    day = open_day(live)
    other = new_page(browser, live)
    try:
        sign_in(page, "Drita")
        sign_in(other, "Besa")
        url = f"/calendar/book?day={day.isoformat()}&time=10:00&chair=1"
        page.goto(url)
        other.goto(url)
        fill_booking(page, phone="+355691234567", name="Arta Hoxha")
        fill_booking(other, phone="+355691234568", name="Gent Shala")
        page.click("#book-form button[type=submit]")
        other.click("#book-form button[type=submit]")
        [won] = entries(live, day)
        assert (won.patient_name, won.chair, won.starts_at.time()) == ("Arta Hoxha", 1, time(10))
        # The loser, in Albanian, is told and offered the nearest free times; typed values kept.
        assert "sapo u zu" in other.inner_text(".error")
        assert other.input_value("#b-name") == "Gent Shala"
        buttons = other.locator("ul.alternatives button")
        assert buttons.count() >= 1
        check_page(other, "calendar-race-lost")
        buttons.first.click()
        assert "Takimi u rezervua" in other.inner_text("main")
        both = entries(live, day)
        assert len(both) == 2
        second = next(e for e in both if e.patient_name == "Gent Shala")
        assert (second.starts_at.time(), second.chair) != (time(10), 1)
        assert second.patient_phone_masked.endswith("68")
    finally:
        other.context.close()
    assert other.dialogs == []


def test_cancel_with_a_reason_and_mark_a_no_show_after_the_start(
    live: LiveDashboard, page: Any, check_page: Any
) -> None:
    live.add_user("Drita", role="staff")
    sign_in(page, "Drita")
    day = open_day(live)
    for at, phone in (("09:00", "+355691111111"), ("11:00", "+355692222222")):
        page.goto(f"/calendar/book?day={day.isoformat()}&time={at}")
        fill_booking(page, phone=phone, name="Arta Hoxha")
        page.click("#book-form button[type=submit]")
    first, second = entries(live, day)
    page.goto(f"/calendar/{first.id}")
    assert page.locator("#mark-form").count() == 0  # not started: nothing to mark
    page.fill("#c-reason", "Patient asked to come later")
    page.click("#cancel-form button[type=submit]")
    assert "The appointment was cancelled." in page.inner_text("main")
    item = page.inner_text(f"#appointment-{first.id}")
    assert "Cancelled" in item and "Patient asked to come later" in item
    assert entries(live, day)[0].cancel_reason == "Patient asked to come later"
    # A direct mark before the start is refused with the page's message.
    page.goto(f"/calendar/{second.id}")
    token = page.locator("input[name=csrf_token]").first.input_value()
    answer = page.request.post(
        f"/calendar/{second.id}/mark", form={"csrf_token": token, "outcome": "no_show"}
    )
    assert answer.status == 400 and "has not started yet" in answer.text()
    start = datetime.combine(day, time(11), live.app.clinic.tz)
    live.advance(seconds=(start - live.clock.now).total_seconds() + 600)
    sign_in(page, "Drita")  # a week later: the session has ended
    page.goto(f"/calendar/{second.id}")
    check_page(page, "calendar-appointment")
    page.click("#mark-form button[value=no_show]")
    assert "The appointment was marked." in page.inner_text("main")
    assert "No-show" in page.inner_text(f"#appointment-{second.id}")
    assert entries(live, day)[1].status == "no_show"
    actions = {e.action for e in live.audit() if e.actor == "web:Drita"}
    assert len(actions) >= 3, actions


def test_bad_input_is_refused_with_what_was_typed_kept_and_nothing_booked(
    live: LiveDashboard, page: Any, check_page: Any
) -> None:
    live.add_user("Besa", role="staff", language="sq")
    sign_in(page, "Besa")
    day = open_day(live)
    page.goto(f"/calendar/book?day={day.isoformat()}&time=10:00")
    fill_booking(page, phone="12", name="Arta Hoxha")
    page.click("#book-form button[type=submit]")
    assert "Numri i telefonit nuk është i vlefshëm" in page.inner_text(".error")
    assert page.input_value("#b-phone") == "12"
    assert page.input_value("#b-name") == "Arta Hoxha"
    assert page.input_value("#b-time") == "10:00"
    check_page(page, "calendar-book-problem")
    fill_booking(page, phone="+355691234567", name=MARKUP)
    page.click("#book-form button[type=submit]")
    assert "Emri nuk është i vlefshëm" in page.inner_text(".error")
    assert page.input_value("#b-name") == MARKUP
    # A time outside opening hours is refused by the clinic's rules.
    fill_booking(page, phone="+355691234567", name="Arta Hoxha")
    page.fill("#b-time", "13:30")
    page.click("#book-form button[type=submit]")
    assert "jashtë orarit" in page.inner_text(".error")
    assert entries(live, day) == []


def test_a_move_to_a_taken_time_offers_free_times_and_one_click_moves_it(
    live: LiveDashboard, page: Any
) -> None:
    live.add_user("Drita", role="staff")
    sign_in(page, "Drita")
    day = open_day(live)
    for at, phone in (("10:00", "+355691111111"), ("11:00", "+355692222222")):
        page.goto(f"/calendar/book?day={day.isoformat()}&time={at}&chair=1")
        fill_booking(page, phone=phone, name="Arta Hoxha")
        page.click("#book-form button[type=submit]")
    _, second = entries(live, day)
    page.goto(f"/calendar/{second.id}")
    page.click("#move-form button[type=submit]")  # the same time it has
    assert "already at that time" in page.inner_text(".error")
    page.fill("#m-time", "10:00")
    page.select_option("#m-chair", "1")
    page.click("#move-form button[type=submit]")
    assert "That time was just taken." in page.inner_text(".error")
    assert page.input_value("#m-time") == "10:00"  # what was typed is kept
    assert [e.starts_at.time() for e in entries(live, day)] == [time(10), time(11)]
    page.click("ul.alternatives button >> nth=0")
    assert "The appointment was moved." in page.inner_text("main")
    moved = entries(live, day)[1]
    assert (moved.id, moved.revision) == (second.id, 1)
    assert (moved.starts_at.time(), moved.chair) != (time(11), 1)
    assert (moved.starts_at.time(), moved.chair) != (time(10), 1)


# What the week grid says about one appointment: its row's day, its column's chair, its text.
CELL_OF = """(id) => {
    const item = document.getElementById(id);
    const cell = item.closest('td');
    const table = cell.closest('table');
    return {
        day: cell.parentElement.querySelector('th[scope=row]').innerText,
        chair: table.tHead.rows[0].cells[cell.cellIndex].innerText,
        text: item.innerText,
    };
}"""


def test_the_week_is_days_by_chairs_and_scrolls_in_its_own_box(
    live: LiveDashboard, page: Any, check_page: Any
) -> None:
    live.add_user("Drita", role="staff")
    sign_in(page, "Drita")
    day = open_day(live)
    service = live.app.clinic.services[-1]
    booked = live.run(
        desk_of(live.app).book(
            phone="069 123 4567", name="Arta Hoxha", service_id=service.id,
            starts_at=datetime.combine(day, time(14), live.app.clinic.tz), actor="web:Drita",
            chair=2,
        )
    )  # fmt: skip
    page.goto(f"/calendar?day={day.isoformat()}&view=week")
    cell = page.evaluate(CELL_OF, f"appointment-{booked.appointment.id}")
    day_label = page.inner_text(f"#day-{day.isoformat()} th")
    assert (cell["day"], cell["chair"]) == (day_label, "Chair 2")
    assert day_label.startswith(f"{day:%A} {day.day} {day:%b}")  # e.g. "Friday 11 Dec"
    assert "14:00" in cell["text"] and service.name.en in cell["text"]
    assert "Arta Hoxha" in cell["text"] and "+355*******67" in cell["text"]
    # Seven rows, one per day Monday to Sunday; the weekend's closed rows span every chair.
    rows = page.locator("#calendar-week tbody tr")
    assert rows.count() == 7
    assert page.locator("#calendar-week thead th").all_inner_texts()[1:] == [
        f"Chair {n}" for n in range(1, live.app.clinic.chairs + 1)
    ]
    # A free time in a cell opens the booking form for that day, time and chair.
    page.click(f"#day-{day.isoformat()} td >> nth=2 >> .cal-free a >> nth=0")
    assert (page.input_value("#b-day"), page.input_value("#b-chair")) == (day.isoformat(), "3")
    page.go_back()
    check_page(page, "calendar-week-grid")

    # The box is a labelled region in the tab order; on a tablet the chairs scroll inside it
    # (by keyboard too) and the page itself never scrolls sideways.
    region = page.get_by_role("region", name="The week per chair")
    assert region.get_attribute("tabindex") == "0"
    widths = "el => [el.scrollWidth, el.clientWidth, el.scrollLeft]"
    page_width = "() => [document.documentElement.scrollWidth, window.innerWidth]"
    wide, shown, _ = region.evaluate(widths)
    assert wide <= shown  # at 1280 px every chair fits
    page.set_viewport_size({"width": 820, "height": 1180})
    wide, shown, left = region.evaluate(widths)
    assert wide > shown and left == 0
    document, window = page.evaluate(page_width)
    assert document <= window
    region.focus()
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    # Chromium animates a keyboard scroll: wait for it to move (the wait fails if it never does).
    page.wait_for_function("() => document.getElementById('calendar-week').scrollLeft > 0")
    assert page.evaluate("() => document.activeElement.id") == "calendar-week"


def test_a_refusal_is_shown_in_the_users_language_by_its_rule(
    live: LiveDashboard, page: Any
) -> None:
    live.add_user("Besa", role="staff", language="sq")
    sign_in(page, "Besa")
    day = open_day(live)
    sunday = day + timedelta(days=6 - day.weekday())
    page.goto(f"/calendar/book?day={sunday.isoformat()}&time=10:00")
    fill_booking(page, phone="069 123 4567", name="Arta Hoxha")
    page.click("#book-form button[type=submit]")
    assert page.inner_text(".error") == "Klinika është e mbyllur atë ditë."
    # Times the form's own checks would stop, sent as a tampered or stale form would send them.
    token = page.locator("input[name=csrf_token]").first.input_value()
    yesterday = (live.clock.now.date() - timedelta(days=1)).isoformat()
    sent = {
        "csrf_token": token,
        "phone": "069 123 4567",
        "name": "Arta Hoxha",
        "service": "checkup",
    }
    for fields, albanian in (
        ({"day": day.isoformat(), "time": "10:10"}, "Takimet fillojnë çdo 30 minuta"),
        ({"day": yesterday, "time": "10:00"}, "Kjo orë ka kaluar tashmë."),
        ({"day": day.isoformat(), "time": "10:00", "chair": "9"}, "Karrige e panjohur."),
        ({"day": day.isoformat(), "time": "10:00", "service": "tattoo"}, "Shërbim i panjohur."),
    ):
        answer = page.request.post("/calendar/book", form=sent | fields)
        assert answer.status == 400, fields
        assert albanian in answer.text(), fields
        assert "cannot be booked" not in answer.text() and "does not exist" not in answer.text()
    assert entries(live, day) == [] and entries(live, sunday) == []
