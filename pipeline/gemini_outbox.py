"""The Gemini Live session's outbox: what was sent since the last resumable handle, and what waits.

:class:`pipeline.gemini.ResilientGeminiLive` sends everything through an :class:`Outbox`, which
stands in for google-genai's ``AsyncSession``: a resume replays what the new session may have
missed, in order, and input arriving while no socket is open is held instead of dropped.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from google.genai.errors import APIError
from websockets.exceptions import ConnectionClosed

# Messages sent since the last resumable handle that a resume may replay (about a minute of
# 20 ms audio chunks; the server issues handles far more often than that).
_MAX_REPLAY = 3000


def answers_only(message: tuple[str, dict[str, Any]], ids: frozenset[str]) -> bool:
    """Whether ``message`` is a tool response whose every answer is to one of ``ids``."""
    method, kwargs = message
    if method != "send_tool_response" or not ids:
        return False
    responses = kwargs.get("function_responses")
    if not isinstance(responses, list):
        responses = [responses]
    return all(getattr(r, "id", None) in ids for r in responses)


class Outbox:
    """The service's ``_session``: sends to the live socket, or holds them while there is none.

    Attributes:
        live: The open google-genai ``AsyncSession``, or None while (re)connecting.
        sent: Messages sent since the last resumable handle; a resume replays them.
        pending: Messages held while no socket is open.
    """

    def __init__(self) -> None:
        self.live: Any = None
        self.sent: deque[tuple[str, dict[str, Any]]] = deque(maxlen=_MAX_REPLAY)
        self.pending: deque[tuple[str, dict[str, Any]]] = deque()

    async def _send(self, method: str, kwargs: dict[str, Any]) -> None:
        if self.live is None:
            self.pending.append((method, kwargs))
            return
        self.sent.append((method, kwargs))
        try:
            await getattr(self.live, method)(**kwargs)
        except (ConnectionClosed, APIError):
            # The socket is going down: the message stays in ``sent`` and a resume replays it.
            self.live = None

    async def send_realtime_input(self, **kwargs: Any) -> None:
        """Audio, text, activity start/end (same signature as ``AsyncSession``)."""
        await self._send("send_realtime_input", kwargs)

    async def send_client_content(self, **kwargs: Any) -> None:
        """Turns and turn_complete (same signature as ``AsyncSession``)."""
        await self._send("send_client_content", kwargs)

    async def send_tool_response(self, **kwargs: Any) -> None:
        """Function responses (same signature as ``AsyncSession``)."""
        await self._send("send_tool_response", kwargs)

    async def close(self) -> None:
        """Close the live socket, if any."""
        live, self.live = self.live, None
        if live is not None:
            await live.close()

    def checkpoint(self) -> None:
        """A resumable handle arrived: what was sent before it is in the server's state."""
        self.sent.clear()

    def take(
        self, *, resumed: bool, unknown_calls: frozenset[str] = frozenset()
    ) -> list[tuple[str, dict[str, Any]]]:
        """What a new socket must receive first.

        Args:
            resumed: The socket resumed the session with a handle (everything since it is
                replayed); otherwise it is a fresh session that pipecat seeds with the
                context, and only the caller's held realtime input still matters.
            unknown_calls: Tool call ids the new session never issued: their responses are
                left out (the server refuses a response to an id it did not issue, 1007).
        """
        held = [*self.sent, *self.pending] if resumed else list(self.pending)
        self.sent.clear()
        self.pending = deque()
        if not resumed:
            return [m for m in held if m[0] == "send_realtime_input"]
        return [m for m in held if not answers_only(m, unknown_calls)]

    async def go_live(self, session: Any, replay: list[tuple[str, dict[str, Any]]]) -> None:
        """Send ``replay`` then whatever arrived meanwhile, then send directly (order kept)."""
        self.pending.extendleft(reversed(replay))
        while self.pending:
            method, kwargs = self.pending.popleft()
            self.sent.append((method, kwargs))
            await getattr(session, method)(**kwargs)
        self.live = session  # no await since the last check: nothing can slip in between
