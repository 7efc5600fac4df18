"""The Campaigns list in keyset pages: newest first, each campaign once, counts per campaign."""

from __future__ import annotations

import pytest

from storage import NewContact, Store
from storage.cursors import encode
from storage.errors import CursorError
from tests.storage.booking import phone


@pytest.mark.asyncio
async def test_pages_walk_every_campaign_newest_first_once(store: Store) -> None:
    ids = [
        (await store.campaigns.create(name=f"Recall {n}", purpose="recall")).id for n in range(7)
    ]
    await store.campaigns.add_contacts(
        campaign_id=ids[5],
        contacts=[NewContact(phone=phone(n), name=f"Patient {n}") for n in range(3)],
    )
    seen, cursor, pages = [], None, 0
    while True:
        page = await store.campaign_list.page(cursor=cursor, limit=3)
        pages += 1
        seen += [item.id for item in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert pages == 3
    assert seen == ids[::-1]
    first = (await store.campaign_list.page(limit=3)).items
    assert [(c.name, c.contacts, c.queued) for c in first] == [
        ("Recall 6", 0, 0),
        ("Recall 5", 3, 3),
        ("Recall 4", 0, 0),
    ]
    # A page of exactly the rest has no next page.
    assert (await store.campaign_list.page(limit=7)).next_cursor is None


@pytest.mark.asyncio
async def test_bad_cursors_and_limits_are_refused(store: Store) -> None:
    with pytest.raises(CursorError):
        await store.campaign_list.page(cursor="not-a-cursor")
    with pytest.raises(CursorError):  # another list's cursor
        await store.campaign_list.page(cursor=encode("do_not_call", ("2026-12-01", 1)))
    with pytest.raises(ValueError, match="1 to 200"):
        await store.campaign_list.page(limit=0)
