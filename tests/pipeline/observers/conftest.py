"""Fixtures for the observer tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from pipecat.utils.asyncio.task_manager import TaskManager


@pytest_asyncio.fixture
async def task_manager() -> AsyncIterator[TaskManager]:
    """What a pipeline worker hands its observers, for observers fed directly."""
    yield TaskManager()
