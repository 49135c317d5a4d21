"""A turn whose reader goes away (a browser tab closed mid-answer) still ends and is stored."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from langchain_core.messages import AIMessage, HumanMessage

from assistant.config import load_config
from assistant.events import Token, TurnDone
from assistant.llm import ChatChunk, ChatRequest
from assistant.service import Assistant
from assistant.testing import ScriptedChatModel


@dataclass
class GatedModel:
    """The scripted model, holding each free-text answer after its first word until `gate`."""

    script: ScriptedChatModel
    gate: asyncio.Event = field(default_factory=asyncio.Event)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        first = True
        async for chunk in self.script.stream(request):
            yield chunk
            if first and request.json_schema is None:
                first = False
                await self.gate.wait()


async def _read_first_token_then_leave(assistant: Assistant, session: str) -> None:
    """Read the turn until its first token, then be cancelled as Gradio cancels a handler."""
    seen = asyncio.Event()

    async def reader() -> None:
        async for event in assistant.run_turn(session, "What is it?"):
            if isinstance(event, Token):
                seen.set()

    task = asyncio.create_task(reader())
    await asyncio.wait_for(seen.wait(), 10)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()


async def test_an_answer_whose_reader_left_is_finished_and_stored(tmp_path: Path) -> None:
    model = GatedModel(ScriptedChatModel(['{"tool": "answer"}', "It is a plain grey square."]))
    config = load_config({"data_dir": str(tmp_path / "data")})
    async with Assistant(config, model=model) as assistant:
        session = assistant.new_session().id
        await _read_first_token_then_leave(assistant, session)
        assert assistant.turn_running(session)  # the reader is gone, the turn is not
        model.gate.set()
        for _ in range(500):
            if not assistant.turn_running(session):
                break
            await asyncio.sleep(0.01)
        assert not assistant.turn_running(session)
        history = await assistant.history(session)
        assert isinstance(history[0], HumanMessage) and history[0].content == "What is it?"
        assert isinstance(history[-1], AIMessage)
        assert history[-1].content == "It is a plain grey square."
        # The session goes on, and the limiter's slot was given back.
        model.script.script = [*model.script.script, '{"tool": "answer"}', "Yes."]
        events = [e async for e in assistant.run_turn(session, "Sure?")]
        assert isinstance(events[-1], TurnDone) and events[-1].answer == "Yes."


async def test_shutting_down_ends_a_turn_nobody_reads(tmp_path: Path) -> None:
    """Closing the assistant cancels turns still running, before their storage closes."""
    model = GatedModel(ScriptedChatModel(['{"tool": "answer"}', "Never finished."]))
    config = load_config({"data_dir": str(tmp_path / "data")})
    async with Assistant(config, model=model) as assistant:
        session = assistant.new_session().id
        await _read_first_token_then_leave(assistant, session)
        assert assistant.turn_running(session)
    assert not assistant.turn_running(session)  # cancelled by the close, not left behind


async def test_a_started_turn_runs_and_is_stored_though_never_read(tmp_path: Path) -> None:
    """`start_turn` starts the turn at once (the UI shows the message meanwhile); were its
    reader never to read, the turn still ends and is stored."""
    script = ScriptedChatModel(['{"tool": "answer"}', "Stored anyway."])
    config = load_config({"data_dir": str(tmp_path / "data")})
    async with Assistant(config, model=script) as assistant:
        session = assistant.new_session().id
        events = assistant.start_turn(session, "What is it?")
        for _ in range(500):
            if script.requests and not assistant.turn_running(session):
                break
            await asyncio.sleep(0.01)
        assert len(script.requests) == 2  # the action, then the answer: nobody read them
        await events.aclose()
        history = await assistant.history(session)
        assert [m.content for m in history] == ["What is it?", "Stored anyway."]
