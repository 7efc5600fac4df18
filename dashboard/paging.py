"""Keyset pages of a list page: the "Older", "Newer" and "Newest" links, one mechanism.

A list's store method answers one page and the cursor of the next (``storage.cursors``). The
page's links carry the list's own query fields, the cursor, and the cursors of the pages
before it (``back``, the last :data:`MAX_BACK`), so "Newer" goes back without the store
reading backwards. The template part is ``pager.html``.
"""

from __future__ import annotations

from urllib.parse import urlencode

# How many earlier pages a "Newer" link can lead back to (their cursors ride in the URL).
MAX_BACK = 20


def page_link(path: str, form: dict[str, str], cursor: str | None, back: list[str]) -> str:
    """``path`` with the same fields at ``cursor``, remembering ``back`` for "Newer"."""
    pairs = [(k, v) for k, v in form.items() if v]
    if cursor:
        pairs.append(("cursor", cursor))
    pairs += [("back", b) for b in back[-MAX_BACK:]]
    return path + (f"?{urlencode(pairs)}" if pairs else "")


def pager(
    path: str,
    form: dict[str, str],
    *,
    cursor: str | None,
    next_cursor: str | None,
    back: list[str],
) -> dict[str, str]:
    """The links ``pager.html`` shows for the page at ``cursor`` (None: the first page).

    Returns:
        ``next_url`` (older rows) when there is a next page; ``newer_url`` and
        ``newest_url`` when this is not the first page.
    """
    links = {}
    if next_cursor is not None:
        links["next_url"] = page_link(path, form, next_cursor, [*back, cursor or ""])
    if cursor is not None:
        links["newer_url"] = page_link(path, form, back[-1] if back else None, back[:-1])
        links["newest_url"] = page_link(path, form, None, [])
    return links
