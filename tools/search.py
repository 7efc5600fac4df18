"""search_web: a configurable JSON search endpoint, with the clinic FAQ as the fallback."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
from loguru import logger
from pydantic import Field

from tools.common import ToolArgs, keyword_in
from tools.context import ToolContext
from tools.registry import ToolResult
from validation.text import clean_text, fold

_MAX_BODY = 1_000_000
# Personal data must not leave the machine inside a search query.
_EMAIL = re.compile(r"\S+@\S+")
_DIGITS = re.compile(r"\+?\d[\d \-()./]{5,}\d")


class SearchWebArgs(ToolArgs):
    """Arguments of search_web."""

    query: str = Field(
        max_length=200,
        description="A general dental question, without the patient's name or number.",
    )


class SearchFailedError(Exception):
    """The search endpoint could not answer usefully."""


def scrub_query(query: str) -> str:
    """Remove email addresses and phone-like digit runs from a query before it leaves."""
    return " ".join(_DIGITS.sub(" ", _EMAIL.sub(" ", query)).split())


async def search_web(args: SearchWebArgs, ctx: ToolContext) -> ToolResult:
    """Search the configured endpoint; fall back to the clinic FAQ when absent or failing."""
    query = scrub_query(clean_text(args.query, field="query", max_length=200))
    if not query:
        return {
            "error": "query: is empty after removing personal data",
            "hint": "Ask a general question.",
        }
    settings = ctx.settings.search
    if settings.url is not None:
        try:
            results = await _web(ctx, query)
        except SearchFailedError as exc:
            logger.warning("web search failed ({}); answering from the FAQ", exc)
        else:
            if results:
                return {
                    "source": "web",
                    "results": results,
                    "hint": "Summarise briefly; say it is general information, not a diagnosis.",
                }
    return faq_answer(ctx, query)


async def _web(ctx: ToolContext, query: str) -> list[dict[str, str]]:
    settings = ctx.settings.search
    client = ctx.http or httpx.AsyncClient()
    try:
        async with client.stream(
            "GET",
            str(settings.url),
            params={"q": query, "format": "json"},
            timeout=settings.timeout_seconds,
            follow_redirects=False,
        ) as response:
            if response.status_code != 200:
                raise SearchFailedError(f"HTTP {response.status_code}")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body.extend(chunk)
                if len(body) > _MAX_BODY:
                    raise SearchFailedError("response too large")
    except httpx.HTTPError as exc:
        raise SearchFailedError(type(exc).__name__) from None
    finally:
        if ctx.http is None:
            await client.aclose()
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise SearchFailedError("response is not JSON") from None
    items = data.get("results") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise SearchFailedError("response has no results list")
    results = []
    limit = settings.max_snippet_chars
    for item in items:
        if not isinstance(item, dict):
            continue
        title = _text(item.get("title"), 200)
        snippet = _text(item.get("content") or item.get("snippet"), limit)
        url = _text(item.get("url"), 500)
        if title or snippet:
            results.append({"title": title, "snippet": snippet, "url": url})
        if len(results) >= settings.max_results:
            break
    return results


def _text(value: Any, limit: int) -> str:
    if not isinstance(value, str):
        return ""
    text = clean_text(value[: limit * 4], field="result", max_length=limit * 4, required=False)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def faq_answer(ctx: ToolContext, query: str) -> ToolResult:
    """The clinic FAQ entries that best match a query, by keyword and word overlap."""
    lang = ctx.language
    folded = fold(query)
    words = set(re.findall(r"\w{3,}", folded))
    scored = []
    for index, entry in enumerate(ctx.clinic.faq):
        keyword_hits = sum(1 for k in entry.keywords if keyword_in(k, query))
        question_words = set(
            re.findall(r"\w{3,}", fold(entry.question.sq + " " + entry.question.en))
        )
        score = 2 * keyword_hits + len(words & question_words)
        if score:
            scored.append((-score, index, entry))
    scored.sort(key=lambda item: item[:2])
    if not scored:
        return {
            "source": "clinic_faq",
            "results": [],
            "hint": "No answer on file: say so honestly and offer a callback from clinic staff.",
        }
    return {
        "source": "clinic_faq",
        "results": [
            {"question": e.question.get(lang), "answer": e.answer.get(lang)}
            for _, _, e in scored[:3]
        ],
        "hint": "Answer from these clinic-approved answers.",
    }
