"""Server-rendered pages: one Jinja2 environment per language, and :func:`render`.

Templates live in ``dashboard/templates`` and extend ``base.html`` (header, navigation, language
switch, sign-out). Autoescaping is on for every template: whatever a person typed is shown as
text. Strings are translated with ``{{ _("...") }}``, ``{% trans %}`` and ``ngettext``; values
are formatted with the filters ``when`` (an instant in Europe/Tirane), ``day``, ``number`` and
``lek`` (whole lek).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from dashboard.i18n import (
    LANGUAGE_NAMES,
    LANGUAGES,
    Language,
    as_language,
    format_day,
    format_lek,
    format_number,
    format_when,
    from_accept_language,
    translations,
)
from dashboard.nav import NavEntry
from dashboard.sessions import (
    CSRF_FIELD,
    csrf_token,
    current_session,
    set_pending_cookies,
    state_of,
)
from validation.languages import LANGUAGE_NAMES as LANGUAGE_NAMES_OF_PATIENTS

TEMPLATES = Path(__file__).resolve().parent / "templates"
LANGUAGE_COOKIE = "elo_lang"


@cache
def environment(language: Language) -> Environment:
    """The Jinja2 environment speaking ``language`` (built once per language)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.filters["when"] = lambda value: format_when(value, language) if value else ""
    env.filters["day"] = lambda value: format_day(value, language) if value else ""
    env.filters["number"] = lambda value: format_number(value, language)
    env.filters["lek"] = lambda value: format_lek(value, language)
    # A patient's or contact's language (sq, en, it), in its own name: not the UI's languages.
    env.filters["patient_language"] = lambda code: LANGUAGE_NAMES_OF_PATIENTS.get(code, code)
    return env


async def request_language(request: Request) -> Language:
    """The language of this response: the user's own, else ``?lang=``, a cookie, the browser's."""
    session = await current_session(request)
    if session is not None and not session.totp_pending:
        return session.user.language
    return (
        as_language(request.query_params.get("lang"))
        or as_language(request.cookies.get(LANGUAGE_COOKIE))
        or from_accept_language(request.headers.get("accept-language"))
        or state_of(request).settings.default_language
    )


def navigation(request: Request, role: str) -> list[NavEntry]:
    """The header's links for a user of ``role``: the pages that exist, in their order."""
    entries: Sequence[NavEntry] = request.app.state.nav
    return sorted((e for e in entries if e.visible_to(role)), key=lambda e: e.order)


async def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    active: str | None = None,
) -> HTMLResponse:
    """Render a page of the dashboard in the request's language.

    The template gets ``context`` plus: ``user`` (the signed-in :class:`storage.users.User` or
    None), ``nav`` (the header's links), ``active`` (the key of the current link),
    ``csrf_token`` and ``csrf_input()`` (put ``{{ csrf_input() }}`` in every form), ``lang``,
    ``languages``, ``clinic_name`` and ``path``.

    Args:
        request: The request being answered.
        template: A file in ``dashboard/templates``, e.g. ``"users.html"``.
        context: The page's own values.
        status_code: The HTTP status.
        active: The :class:`~dashboard.nav.NavEntry` key to highlight.
    """
    language, values = await page_values(request, active=active)
    values.update(context or {})
    html = environment(language).get_template(template).render(values)
    response = HTMLResponse(html, status_code=status_code)
    set_pending_cookies(request, response)
    return response


async def page_values(
    request: Request, *, active: str | None = None
) -> tuple[Language, dict[str, Any]]:
    """The request's language and the values every template gets (see :func:`render`)."""
    session = await current_session(request)
    user = session.user if session is not None and not session.totp_pending else None
    language = await request_language(request)
    token = await csrf_token(request)
    hidden = Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, escape(token))
    return language, {
        "request": request,
        "user": user,
        "nav": navigation(request, user.role) if user else [],
        "active": active,
        "csrf_field": CSRF_FIELD,
        "csrf_token": token,
        "csrf_input": lambda: hidden,
        "lang": language,
        "languages": [(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
        "clinic_name": state_of(request).app.clinic.name,
        "path": request.url.path,
    }
