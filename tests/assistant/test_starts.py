"""`assistant.starts`: turns arriving together pass the start gate one at a time; a turn
gives its place back as its first model request leaves (or it reports, fails or ends), so
the gate orders the starts and never holds a turn up for long."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from assistant.config import load_config
from assistant.events import TurnDone, TurnEvent, TurnFailed, TurnQueued
from assistant.llm import ChatChunk, ChatRequest
from assistant.service import Assistant
from assistant.starts import Admitted, StartGate, announcing


async def _pending(task: asyncio.Task[object]) -> bool:
    """Whether `task` is still waiting after the loop has run everything it could."""
    for _ in range(5):
        await asyncio.sleep(0)
    return not task.done()


async def test_turns_pass_the_gate_one_at_a_time() -> None:
    gate = StartGate(slots=1)
    first = await gate.enter()
    second = asyncio.create_task(gate.enter())
    assert await _pending(second), "the second turn waits while the first holds its place"
    assert gate.at_gate == 2
    first.release()
    admitted = await asyncio.wait_for(second, 1)
    assert admitted.held and not first.held
    first.release()  # given back once: a second call must not free another place
    third = asyncio.create_task(gate.enter())
    assert await _pending(third)
    admitted.release()
    (await asyncio.wait_for(third, 1)).release()
    assert gate.at_gate == 0


async def test_two_slots_let_two_turns_through() -> None:
    gate = StartGate(slots=2)
    places = [await gate.enter(), await gate.enter()]
    third = asyncio.create_task(gate.enter())
    assert await _pending(third)
    places[1].release()
    (await asyncio.wait_for(third, 1)).release()
    places[0].release()


async def test_a_place_held_too_long_is_given_back_by_itself() -> None:
    gate = StartGate(slots=1, hold_s=0.05)
    stuck = await gate.enter()  # e.g. a turn whose first step is a slow tool
    waited = asyncio.get_running_loop().time()
    nxt = await asyncio.wait_for(gate.enter(), 2)
    assert asyncio.get_running_loop().time() - waited >= 0.04
    assert not stuck.held and nxt.held
    nxt.release()


async def test_quiet_returns_once_no_turn_is_at_the_gate() -> None:
    gate = StartGate(slots=1)
    await asyncio.wait_for(gate.quiet(5), 0.5)  # nobody there: at once
    first = await gate.enter()
    waiting = asyncio.create_task(gate.enter())
    quiet = asyncio.create_task(gate.quiet(5))
    assert await _pending(quiet)
    first.release()
    assert await _pending(quiet), "a turn is still at the gate (it just got its place)"
    (await asyncio.wait_for(waiting, 1)).release()
    await asyncio.wait_for(quiet, 1)
    # Never longer than asked, however busy the gate.
    held = await gate.enter()
    started = asyncio.get_running_loop().time()
    await gate.quiet(0.05)
    assert 0.04 <= asyncio.get_running_loop().time() - started < 1
    held.release()


async def test_a_turn_that_stops_waiting_leaves_the_gate_as_it_was() -> None:
    gate = StartGate(slots=1)
    first = await gate.enter()
    gone = asyncio.create_task(gate.enter())
    assert await _pending(gone)
    gone.cancel()  # e.g. its browser tab closed while it waited
    await asyncio.gather(gone, return_exceptions=True)
    assert gate.at_gate == 1
    first.release()
    assert gate.at_gate == 0
    await asyncio.wait_for(gate.quiet(5), 0.5)
    (await asyncio.wait_for(gate.enter(), 1)).release()


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="slots"):
        StartGate(slots=0)
    with pytest.raises(ValueError, match="hold_s"):
        StartGate(hold_s=0)


async def test_announcing_says_so_before_the_request_is_streamed() -> None:
    said: list[str] = []

    class Model:
        async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
            said.append("streamed")
            yield ChatChunk(text="ok")

    model = announcing(Model(), lambda: said.append("sent"))
    chunks = [c.text async for c in model.stream(ChatRequest(messages=[], max_tokens=1))]
    assert chunks == ["ok"] and said == ["sent", "streamed"]
    assert Admitted.none().held is False
    Admitted.none().release()  # nothing held: nothing to give back


@dataclass
class HeldModel:
    """Answers once `go` is set; notes whether the turn still held its place when asked."""

    admitted: list[Admitted] = field(default_factory=list)
    held_when_asked: list[bool] = field(default_factory=list)
    asked: asyncio.Event = field(default_factory=asyncio.Event)
    go: asyncio.Event = field(default_factory=asyncio.Event)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        self.held_when_asked.extend(a.held for a in self.admitted)
        self.asked.set()
        await self.go.wait()
        yield ChatChunk(text="Fine.")
        yield ChatChunk(completion_tokens=1, finish_reason="stop")


async def _drain(events: AsyncIterator[TurnEvent]) -> list[TurnEvent]:
    return [e async for e in events]


async def test_a_turn_gives_its_place_back_as_its_model_request_leaves(tmp_path: Path) -> None:
    model = HeldModel()
    config = load_config({"data_dir": str(tmp_path / "data"), "agent": {"max_steps": 0}})
    async with Assistant(config, model=model) as assistant:
        session = assistant.new_session().id
        admitted = await assistant.starts.enter()
        model.admitted.append(admitted)
        turn = asyncio.create_task(
            _drain(assistant.start_turn(session, "What is it?", admitted=admitted))
        )
        await asyncio.wait_for(model.asked.wait(), 10)
        assert model.held_when_asked == [False], "given back before the request went out"
        # The next turn gets through while the first still waits for its answer.
        (await asyncio.wait_for(assistant.starts.enter(), 1)).release()
        assert not turn.done()
        model.go.set()
        events = await asyncio.wait_for(turn, 10)
        assert isinstance(events[-1], TurnDone) and events[-1].answer == "Fine."


async def test_a_turn_that_cannot_start_gives_its_place_back(tmp_path: Path) -> None:
    config = load_config({"data_dir": str(tmp_path / "data"), "agent": {"max_steps": 0}})
    async with Assistant(config, model=HeldModel()) as assistant:
        admitted = await assistant.starts.enter()
        events = await _drain(assistant.start_turn("no-such-session", "Hi", admitted=admitted))
        assert isinstance(events[-1], TurnFailed)
        assert not admitted.held and assistant.starts.at_gate == 0


async def test_a_queued_turn_gives_its_place_back_while_it_waits(tmp_path: Path) -> None:
    """A turn that must wait for a free slot (agent.concurrent_turns) does not keep the
    turns behind it at the gate meanwhile."""
    model = HeldModel()
    config = load_config(
        {"data_dir": str(tmp_path / "data"), "agent": {"max_steps": 0, "concurrent_turns": 1}}
    )
    async with Assistant(config, model=model) as assistant:
        running = asyncio.create_task(
            _drain(assistant.start_turn(assistant.new_session().id, "First"))
        )
        await asyncio.wait_for(model.asked.wait(), 10)
        admitted = await assistant.starts.enter()
        queued = assistant.start_turn(assistant.new_session().id, "Second", admitted=admitted)
        first = await asyncio.wait_for(anext(queued), 10)
        assert isinstance(first, TurnQueued) and not admitted.held
        model.go.set()
        rest = await asyncio.wait_for(_drain(queued), 10)
        assert isinstance(rest[-1], TurnDone)
        await asyncio.wait_for(running, 10)
