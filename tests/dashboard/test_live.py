"""The server-sent-events framing of live fragments (the streams are tested by their pages)."""

from __future__ import annotations

from dashboard.live import sse_event


def test_each_line_of_a_fragment_is_its_own_data_field_and_the_event_ends_blank() -> None:
    html = "<ul>\n  <li>+35569•••4567</li>\n</ul>"
    assert sse_event(html) == "data: <ul>\ndata:   <li>+35569•••4567</li>\ndata: </ul>\n\n"


def test_an_empty_fragment_is_still_one_event() -> None:
    assert sse_event("") == "data: \n\n"
