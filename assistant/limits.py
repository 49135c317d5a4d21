"""How many turns run at once: per app instance, and per signed-in user.

A turn that finds no free slot waits in a first-come queue and is told its place at once,
and again whenever the place changes ("busy, queued"), instead of waiting silently for a
timeout. A user at their own limit does not hold up other users queued behind them.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

__all__ = ["QueuePlace", "TurnLimiter"]


def _turns(n: int) -> str:
    return f"{n} turn is" if n == 1 else f"{n} turns are"


@dataclass(frozen=True)
class QueuePlace:
    """Where a waiting turn stands: `position` (1 = next), and why it waits."""

    position: int
    running: int
    reason: str


@dataclass(eq=False)
class _Ticket:
    user: str
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    admitted: bool = False


class TurnLimiter:
    """At most `per_instance` turns at once, and `per_user` of one named user.

    Turns of the unnamed user "" (the UI without accounts, the CLI) share only the
    per-instance limit: without accounts there is no one to tell apart.
    """

    def __init__(self, per_instance: int, per_user: int) -> None:
        self.per_instance = per_instance
        self.per_user = per_user
        self._running: Counter[str] = Counter()
        self._waiting: list[_Ticket] = []

    @property
    def running(self) -> int:
        """Turns running now."""
        return sum(self._running.values())

    @property
    def waiting(self) -> int:
        """Turns waiting for a slot now."""
        return len(self._waiting)

    def _fits(self, user: str) -> bool:
        if self.running >= self.per_instance:
            return False
        return not user or self._running[user] < self.per_user

    def _place(self, ticket: _Ticket) -> QueuePlace:
        position = self._waiting.index(ticket) + 1
        if self.running >= self.per_instance:
            reason = f"{_turns(self.running)} running, the most this server runs at once"
        else:
            mine = self._running[ticket.user]
            reason = f"you have {mine} turn{'s' if mine != 1 else ''} running, the most per user"
        return QueuePlace(position, self.running, reason)

    def _admit(self) -> None:
        """Start waiting turns in order, skipping users at their own limit."""
        started = []
        for ticket in list(self._waiting):
            if self._fits(ticket.user):
                self._waiting.remove(ticket)
                self._running[ticket.user] += 1
                ticket.admitted = True
                started.append(ticket)
        for ticket in [*started, *self._waiting]:  # started, or moved up the queue
            ticket.changed.set()

    async def acquire(self, user: str) -> AsyncGenerator[QueuePlace]:
        """Wait for a slot, yielding the queue place each time it changes.

        Yields nothing when a slot is free at once. The caller must `release(user)` after
        the turn once this iterator has finished (and only then).
        """
        ticket = _Ticket(user)
        self._waiting.append(ticket)
        self._admit()
        try:
            last: QueuePlace | None = None
            while not ticket.admitted:
                place = self._place(ticket)
                if place != last:
                    yield place
                    last = place
                ticket.changed.clear()
                if not ticket.admitted:
                    await ticket.changed.wait()
        except BaseException:
            if ticket.admitted:  # admitted, then cancelled before the caller knew
                self.release(user)
            else:
                self._waiting.remove(ticket)
                self._admit()
            raise

    def release(self, user: str) -> None:
        """A turn of `user` ended: free its slot and start whoever is next."""
        self._running[user] -= 1
        if self._running[user] <= 0:
            del self._running[user]
        self._admit()
