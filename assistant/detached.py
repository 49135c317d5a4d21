"""Turns that run to their end whether or not anyone is still reading them.

A browser tab closed mid-answer cancels the handler that was reading the turn. Were the
turn run inside that handler, the cancellation would reach the model call and the graph
before the answer is checkpointed: the question stored, its answer lost. Each turn
therefore runs as a task of its own, feeding a queue its reader drains; a reader that
goes away (cancelled or closed) only stops reading, the turn finishes and is stored, and
reopening the session shows it. Only shutting the assistant down cancels running turns.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass

from assistant.events import TurnEvent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Raised:
    """An exception of the turn, passed to its reader."""

    error: Exception


@dataclass
class _Reader:
    """Whether a turn's events are still read (its queue still filled)."""

    reading: bool = True


async def _read(
    queue: asyncio.Queue[TurnEvent | _Raised | None], reader: _Reader
) -> AsyncGenerator[TurnEvent]:
    """A turn's events from its queue, until its end or the reader is done or gone."""
    try:
        while (item := await queue.get()) is not None:
            if isinstance(item, _Raised):
                raise item.error
            yield item
    finally:
        reader.reading = False  # the turn goes on unread


class DetachedTurns:
    """The running turns of one assistant, by session."""

    def __init__(self) -> None:
        self._tasks: dict[asyncio.Task[None], str] = {}

    def running(self, session_id: str) -> bool:
        """Whether a turn of this session is still running (read or not)."""
        return session_id in self._tasks.values()

    def start(
        self, session_id: str, events: AsyncGenerator[TurnEvent]
    ) -> AsyncGenerator[TurnEvent]:
        """Run `events` to its end in a task of its own, started now; read them from the result.

        An exception `events` raises reaches the reader, or the log once nobody reads.
        """
        queue: asyncio.Queue[TurnEvent | _Raised | None] = asyncio.Queue()
        reader = _Reader()

        async def run() -> None:
            try:
                async with aclosing(events) as source:
                    async for event in source:
                        if reader.reading:
                            queue.put_nowait(event)
            except Exception as exc:
                if reader.reading:
                    queue.put_nowait(_Raised(exc))
                else:
                    log.exception("a turn of session %s failed unread", session_id)
            finally:
                queue.put_nowait(None)

        task = asyncio.create_task(run(), name=f"turn of session {session_id}")
        self._tasks[task] = session_id
        task.add_done_callback(self._tasks.pop)
        return _read(queue, reader)

    async def aclose(self) -> None:
        """Cancel the turns still running and wait until they have ended."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
