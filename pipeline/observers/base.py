"""The common base of Elo's call observers: each frame once, routed by its class."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from pipecat.frames.frames import Frame, TranscriptionFrame
from pipecat.observers.base_observer import BaseObserver, FramePushed
from pipecat.processors.frame_processor import FrameDirection

# A route gets the frame and the pipeline-clock time of its push, in nanoseconds.
Route = Callable[[Frame, int], None]

# Frames that travel upstream only, so their upstream push is the one to handle. Every other
# frame an observer routes is handled on its downstream push: Pipecat sends broadcasts
# (interruptions, function calls, bot and user speaking) and VAD events as two copies, one each
# way, and counting both would count twice.
_UPSTREAM_TOO: tuple[type[Frame], ...] = (TranscriptionFrame,)


class FrameObserver(BaseObserver):
    """An observer told of each frame once (its first push) that routes frames by class.

    Subclasses implement :meth:`routes`. Routes are synchronous and quick: anything slow goes to
    a task (``self.create_task``), so the observer's queue never backs up.
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(observe_every_push=False, **kwargs)
        self._routes = dict(self.routes())
        # Per concrete frame class: its route (or None) and whether upstream pushes count. Audio
        # frames, the bulk of the traffic, cost one dictionary lookup after the first.
        self._by_class: dict[type[Frame], tuple[Route | None, bool]] = {}

    def routes(self) -> Mapping[type[Frame], Route]:
        """Frame classes this observer handles and their handlers (subclasses match too)."""
        raise NotImplementedError

    async def on_push_frame(self, data: FramePushed) -> None:
        """Route a frame pushed somewhere in the pipeline."""
        self.observe(data.frame, data.direction, data.timestamp)

    def observe(self, frame: Frame, direction: FrameDirection, timestamp_ns: int) -> None:
        """Handle one frame: what :meth:`on_push_frame` does, callable directly by tests.

        Args:
            frame: The frame.
            direction: Which way it was pushed.
            timestamp_ns: When, on the pipeline clock.
        """
        cls = type(frame)
        found = self._by_class.get(cls)
        if found is None:
            found = self._by_class[cls] = self._lookup(cls)
        route, upstream_too = found
        if route is None or (direction is FrameDirection.UPSTREAM and not upstream_too):
            return
        route(frame, timestamp_ns)

    def _lookup(self, cls: type[Frame]) -> tuple[Route | None, bool]:
        for base in cls.__mro__:
            route = self._routes.get(base)
            if route is not None:
                return route, issubclass(cls, _UPSTREAM_TOO)
        return None, False
