"""Turns that arrive together reach their model requests one after another, not all at once.

Before its model request goes out a turn needs a few milliseconds of the one event loop:
its upload stored, the session's state read and written, the prompt built. Twenty turns
arriving together share the loop evenly, so each waits for nearly all the others' work
and all twenty requests leave together, late, while the model server sits idle. Let
through one at a time instead, the first request leaves after its own work and the server
starts on it while the next is prepared (`benchmarks/bench_arrivals.py`,
`benchmarks/bench_load.py`; BENCHMARKS.md, "A start gate").

The gate only orders the starts; it never holds a turn up for long. A turn keeps its
place until its first model request is on its way, or it reports anything (queued, a
tool run, a failure), or it ends, or `hold_s` has passed: whichever comes first. Under
load a place is held for 10–25 ms; `hold_s` bounds what a slow start (a large upload being
stored) can cost the turns behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from assistant.llm import ChatChunk, ChatModel, ChatRequest

__all__ = ["Admitted", "StartGate", "announcing"]


class Admitted:
    """A turn's place at the gate, given back once (later calls do nothing)."""

    def __init__(self, on_release: Callable[[], None] | None, hold_s: float = 0.0) -> None:
        self._on_release = on_release
        self._timer = (
            asyncio.get_running_loop().call_later(hold_s, self.release)
            if on_release is not None
            else None
        )

    @classmethod
    def none(cls) -> Admitted:
        """No place held (a turn that did not come through a gate)."""
        return cls(None)

    @property
    def held(self) -> bool:
        """Whether the place is still held."""
        return self._on_release is not None

    def release(self) -> None:
        """Let the next turn through."""
        if self._on_release is None:
            return
        on_release, self._on_release = self._on_release, None
        if self._timer is not None:
            self._timer.cancel()
        on_release()


class StartGate:
    """At most `slots` turns preparing their first model request at once.

    Work the page asks for meanwhile that can wait (the panels following a new session)
    waits for `quiet`: until no turn is at the gate, or `max_s` at most.
    """

    def __init__(self, slots: int = 1, hold_s: float = 0.25) -> None:
        if slots < 1 or hold_s <= 0:
            raise ValueError("slots must be at least 1 and hold_s positive")
        self.hold_s = hold_s
        self._slots = asyncio.Semaphore(slots)
        self._at_gate = 0
        self._quiet: asyncio.Event | None = None

    @property
    def at_gate(self) -> int:
        """Turns holding or waiting for a place now."""
        return self._at_gate

    async def enter(self) -> Admitted:
        """Wait for a place; give it back with `Admitted.release`."""
        self._at_gate += 1
        try:
            await self._slots.acquire()
        except BaseException:
            self._left()
            raise
        return Admitted(self._release, self.hold_s)

    def _release(self) -> None:
        self._slots.release()
        self._left()

    def _left(self) -> None:
        self._at_gate -= 1
        if self._at_gate == 0 and self._quiet is not None:
            self._quiet.set()
            self._quiet = None

    async def quiet(self, max_s: float) -> None:
        """Return once no turn is at the gate, or after `max_s` seconds."""
        if self._at_gate == 0:
            return
        if self._quiet is None:
            self._quiet = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._quiet.wait(), max_s)


@dataclass(frozen=True)
class _Announcing:
    """A model that calls `sent` as a request is handed to it, then streams as usual."""

    model: ChatModel
    sent: Callable[[], None]

    def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        self.sent()
        return self.model.stream(request)


def announcing(model: ChatModel, sent: Callable[[], None]) -> ChatModel:
    """`model`, calling `sent` whenever a request is made of it."""
    return _Announcing(model, sent)
