"""Several call observers behind one Pipecat observer.

Pipecat gives every observer its own queue and task, and that plumbing (a ``FramePushed`` queued
and a task woken per frame) costs more than our routing. Grouping the call's observers pays it
once per frame instead of once per observer.
"""

from __future__ import annotations

from pipecat.observers.base_observer import BaseObserver, FramePushed
from pipecat.utils.asyncio.task_manager import BaseTaskManager

from pipeline.observers.base import FrameObserver


class ObserverGroup(BaseObserver):
    """Tells each member of every frame pushed, in order, on one task.

    Args:
        *members: The observers; each keeps its own state, tasks and clean-up.
    """

    def __init__(self, *members: FrameObserver) -> None:
        super().__init__(observe_every_push=False)
        self.members = members

    async def setup(self, task_manager: BaseTaskManager) -> None:
        """Set up the group and its members on the worker's task manager."""
        await super().setup(task_manager)
        for member in self.members:
            await member.setup(task_manager)

    async def cleanup(self) -> None:
        """Clean up every member (e.g. the transcript's last save), then the group."""
        for member in self.members:
            await member.cleanup()
        await super().cleanup()

    async def on_push_frame(self, data: FramePushed) -> None:
        """Route the frame to each member."""
        for member in self.members:
            member.observe(data.frame, data.direction, data.timestamp)
