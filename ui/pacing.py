"""How often a streaming answer updates the chat, shared among the answers streaming at once.

Each update re-sends the chat: Gradio post-processes it, diffs it against the last one and
writes it to the browser's event stream, and the browser parses it. One person's answer
can update ten times a second; twenty answers at once doing the same take CPU the model
server needs (on a CPU-bound server, measured in `benchmarks/bench_load.py`). The server
therefore spends a fixed budget of updates per second, split evenly among the turns
streaming now: alone, an answer updates every `min_interval_s`; among twenty, each
updates about once a second. Every token still arrives, only in larger steps.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["FramePacer"]


class FramePacer:
    """The shortest time between two updates of one streaming chat, given the others."""

    def __init__(self, updates_per_s: float, min_interval_s: float = 0.1) -> None:
        if updates_per_s <= 0 or min_interval_s <= 0:
            raise ValueError("updates_per_s and min_interval_s must be positive")
        self.updates_per_s = updates_per_s
        self.min_interval_s = min_interval_s
        self.streaming = 0

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Count a turn as streaming while the block runs."""
        self.streaming += 1
        try:
            yield
        finally:
            self.streaming -= 1

    def interval_s(self) -> float:
        """Seconds between updates of each streaming chat now."""
        return max(self.min_interval_s, self.streaming / self.updates_per_s)
