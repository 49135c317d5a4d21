"""Turn limits: busy turns wait in order, are told their place, and then run."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from langchain_core.messages import AIMessage, HumanMessage

from assistant.config import load_config
from assistant.events import Token, ToolFinished, TurnDone, TurnEvent, TurnQueued
from assistant.limits import QueuePlace, TurnLimiter
from assistant.llm import ChatChunk, ChatRequest
from assistant.service import Assistant
from ui.render import apply_event


async def _places(limiter: TurnLimiter, user: str, out: list[QueuePlace]) -> None:
    async for place in limiter.acquire(user):
        out.append(place)


async def test_a_turn_waits_for_a_slot_and_is_told_its_place() -> None:
    limiter = TurnLimiter(per_instance=1, per_user=8)
    first: list[QueuePlace] = []
    await _places(limiter, "", first)
    assert first == [] and limiter.running == 1  # a free slot: no message at all
    second: list[QueuePlace] = []
    third: list[QueuePlace] = []
    waiting = [
        asyncio.create_task(_places(limiter, "", second)),
        asyncio.create_task(_places(limiter, "", third)),
    ]
    await asyncio.sleep(0)
    assert [p.position for p in second] == [1] and [p.position for p in third] == [2]
    assert second[0].reason == "1 turn is running, the most this server runs at once"
    limiter.release("")  # the first turn ends: the second starts, the third moves up
    await waiting[0]
    await asyncio.sleep(0)
    assert [p.position for p in third] == [2, 1] and not waiting[1].done()
    limiter.release("")
    await waiting[1]
    limiter.release("")
    assert limiter.running == 0


async def test_a_user_at_their_limit_does_not_hold_up_others() -> None:
    limiter = TurnLimiter(per_instance=3, per_user=1)
    await _places(limiter, "ana", [])
    ana: list[QueuePlace] = []
    ana_second = asyncio.create_task(_places(limiter, "ana", ana))
    await asyncio.sleep(0)
    assert [p.position for p in ana] == [1] and "per user" in ana[0].reason
    ben: list[QueuePlace] = []
    await _places(limiter, "ben", ben)  # ben passes ana's waiting turn
    assert ben == [] and limiter.running == 2
    limiter.release("ana")
    await ana_second
    assert limiter.running == 2


async def test_a_cancelled_waiting_turn_gives_up_its_place() -> None:
    limiter = TurnLimiter(per_instance=1, per_user=8)
    await _places(limiter, "", [])
    gone = asyncio.create_task(_places(limiter, "", []))
    after: list[QueuePlace] = []
    stays = asyncio.create_task(_places(limiter, "", after))
    await asyncio.sleep(0)
    gone.cancel()
    for _ in range(3):  # the cancellation, then the wake-up of the turn behind it
        await asyncio.sleep(0)
    assert gone.cancelled()
    assert [p.position for p in after] == [2, 1]
    limiter.release("")
    await stays
    assert limiter.running == 1


@dataclass
class GatedModel:
    """Answers each request only once `gate` opens; `asked` says a request has arrived."""

    gate: asyncio.Event = field(default_factory=asyncio.Event)
    asked: asyncio.Event = field(default_factory=asyncio.Event)
    requests: int = 0

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        self.asked.set()
        self.requests += 1
        await self.gate.wait()
        yield ChatChunk(text="An answer.")
        yield ChatChunk(completion_tokens=2, finish_reason="stop")


async def test_the_assistant_queues_a_turn_when_busy_and_then_runs_it(tmp_path: Path) -> None:
    config = load_config(
        {"data_dir": str(tmp_path / "data"), "agent": {"concurrent_turns": 1}}, environ={}
    )
    model = GatedModel()
    async with Assistant(config, model=model) as assistant:
        s1, s2 = assistant.new_session().id, assistant.new_session().id
        events: dict[str, list[TurnEvent]] = {s1: [], s2: []}
        arrived = asyncio.Event()

        async def turn(session: str, text: str) -> None:
            async for event in assistant.run_turn(session, text, max_steps=0):
                events[session].append(event)
                arrived.set()

        one = asyncio.create_task(turn(s1, "First"))
        await model.asked.wait()  # the first turn holds the only slot
        two = asyncio.create_task(turn(s2, "Second"))
        await arrived.wait()
        while not events[s2]:
            arrived.clear()
            await arrived.wait()
        assert events[s2] == [TurnQueued(1, 1, events[s2][0].reason)]  # type: ignore[union-attr]
        model.gate.set()
        await asyncio.gather(one, two)
        assert isinstance(events[s2][-1], TurnDone) and events[s2][-1].answer == "An answer."
        for session, question in ((s1, "First"), (s2, "Second")):
            history = await assistant.history(session)
            texts = [str(m.content) for m in history if isinstance(m, HumanMessage | AIMessage)]
            assert texts == [question, "An answer."]
        assert assistant.limiter.running == 0


async def test_one_users_runs_queue_while_another_users_turn_runs(
    tmp_path: Path, gradient_png: Path
) -> None:
    """Per-user limit, keyed by the session's owner; a tool the person runs counts too."""
    config = load_config(
        {"data_dir": str(tmp_path / "data"), "agent": {"concurrent_turns_per_user": 1}},
        environ={},
    )
    model = GatedModel()
    async with Assistant(config, model=model) as assistant:
        ana = assistant.new_session(owner="ana").id
        ana_other = assistant.new_session(owner="ana").id
        ben = assistant.new_session(owner="ben").id
        image = assistant.add_upload(ana_other, gradient_png, "gradient.png").id

        async def collect(events: AsyncIterator[TurnEvent]) -> list[TurnEvent]:
            return [e async for e in events]

        first = asyncio.create_task(collect(assistant.run_turn(ana, "First", max_steps=0)))
        await model.asked.wait()  # ana's turn holds her only slot
        model.asked.clear()
        tool = assistant.run_tool(ana_other, "describe_image", {"image_id": image})
        queued = await anext(tool)
        assert isinstance(queued, TurnQueued) and queued.position == 1
        assert queued.reason == "you have 1 turn running, the most per user"
        bens = asyncio.create_task(collect(assistant.run_turn(ben, "Hello", max_steps=0)))
        await asyncio.wait_for(model.asked.wait(), 30)  # ben's turn reached the model
        assert model.requests == 2 and assistant.limiter.waiting == 1
        model.gate.set()
        rest = await collect(tool)
        assert isinstance(rest[-2], ToolFinished) and rest[-2].status == "success"
        assert isinstance(rest[-1], TurnDone)
        for events in await asyncio.gather(first, bens):
            assert not any(isinstance(e, TurnQueued) for e in events)
            assert isinstance(events[-1], TurnDone) and events[-1].answer == "An answer."
        history = await assistant.history(ben)
        assert [str(m.content) for m in history] == ["Hello", "An answer."]
        assert assistant.limiter.running == 0


async def test_a_sent_message_keeps_its_place_when_its_reader_leaves(tmp_path: Path) -> None:
    """The UI stops reading at TurnDone: the slot is freed with the answer, not when the
    generator is collected. A browser tab closed while its turn is queued does not take the
    message back: the turn keeps its place, runs, and is stored for the session's return."""
    config = load_config(
        {"data_dir": str(tmp_path / "data"), "agent": {"concurrent_turns": 1}}, environ={}
    )
    model = GatedModel()
    async with Assistant(config, model=model) as assistant:
        s1, s2 = assistant.new_session().id, assistant.new_session().id
        first = assistant.run_turn(s1, "First", max_steps=0)
        nexts = asyncio.create_task(anext(first))  # starts the turn; it waits for the model
        await model.asked.wait()
        second = assistant.run_turn(s2, "Second", max_steps=0)
        assert isinstance(await anext(second), TurnQueued)
        await second.aclose()  # the person went away while queued
        assert assistant.limiter.waiting == 1 and assistant.turn_running(s2)
        model.gate.set()
        event = await nexts
        while not isinstance(event, TurnDone):
            event = await anext(first)
        for _ in range(500):
            if not assistant.turn_running(s2):
                break
            await asyncio.sleep(0.01)
        assert assistant.limiter.running == 0 and assistant.limiter.waiting == 0
        history = await assistant.history(s2)
        assert [str(m.content) for m in history] == ["Second", "An answer."]
        del first


def test_the_chat_shows_one_busy_line_until_the_turn_starts(tmp_path: Path) -> None:
    history: list[dict[str, object]] = [{"role": "user", "content": "Hi"}]
    apply_event(history, TurnQueued(2, 32, "32 turns are running"), tmp_path)  # type: ignore[arg-type]
    apply_event(history, TurnQueued(1, 32, "32 turns are running"), tmp_path)  # type: ignore[arg-type]
    assert len(history) == 2 and "queued (position 1)" in str(history[1]["content"])
    apply_event(history, Token("Hello"), tmp_path)  # type: ignore[arg-type]
    assert history == [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
