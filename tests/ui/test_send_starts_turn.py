"""The chat handler starts the turn before Gradio sends the message to the page, so the
model request is not queued behind the page's own events (benchmarks/bench_load.py); a page
gone at that moment does not stop the turn."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
import pytest

from assistant.config import load_config
from assistant.llm import ChatChunk, ChatRequest
from ui.app import build_app
from ui.holder import AssistantHolder


@dataclass
class GatedModel:
    """Answers once `go` is set; `asked` is set as each request arrives."""

    asked: asyncio.Event = field(default_factory=asyncio.Event)
    go: asyncio.Event = field(default_factory=asyncio.Event)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        self.asked.set()
        await self.go.wait()
        yield ChatChunk(text="Fine.")
        yield ChatChunk(completion_tokens=1, finish_reason="stop")


def page_line(role: str, text: str) -> dict[str, Any]:
    """A chat line as the send event gives it to the page (`ui.page_chat`)."""
    return {"role": role, "metadata": None, "content": [{"text": text, "type": "text"}],
            "options": None}  # fmt: skip


def _send_handler(demo: Any) -> Any:
    return next(f.fn for f in demo.fns.values() if f.name == "send")


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Any, GatedModel, AssistantHolder]:
    config = load_config({"data_dir": str(tmp_path / "data"), "agent": {"max_steps": 0}})
    model = GatedModel()
    holder = AssistantHolder(config, model=model)
    return _send_handler(build_app(config, holder)), model, holder


async def test_the_model_is_asked_before_the_message_is_shown(
    setup: tuple[Any, GatedModel, AssistantHolder],
) -> None:
    send, model, holder = setup
    async with holder.lifespan(None):
        updates = send({"text": "What is this?", "files": []}, [], None, "auto", "", None)
        shown = await anext(updates)  # the message, as Gradio sends it to the page
        assert shown[1][-1] == page_line("user", "What is this?")
        # The box emptied, in the form Gradio's own postprocessing would have sent.
        assert shown[0] == gr.MultimodalTextbox(render=False).postprocess(None).model_dump()
        # Suspended there (Gradio sending it), the handler has already started the turn.
        await asyncio.wait_for(model.asked.wait(), 10)
        model.go.set()
        last = [u async for u in updates][-1]
        assert page_line("assistant", "Fine.") in last[1]


async def test_a_page_gone_as_the_message_is_shown_leaves_the_turn_running(
    setup: tuple[Any, GatedModel, AssistantHolder],
) -> None:
    send, model, holder = setup
    async with holder.lifespan(None):
        updates = send({"text": "What is this?", "files": []}, [], None, "auto", "", None)
        session_id = (await anext(updates))[2]
        await updates.aclose()  # the tab closed: Gradio closes the handler
        model.go.set()
        assistant = await holder.get()
        for _ in range(200):  # the turn goes on unread and is stored
            if not assistant._runs.running(session_id):
                break
            await asyncio.sleep(0.05)
        history = await assistant.history(session_id)
        assert [m.type for m in history][-2:] == ["human", "ai"]
        assert history[-1].content == "Fine."


async def test_the_turn_gives_the_start_gate_back_as_its_request_leaves(
    setup: tuple[Any, GatedModel, AssistantHolder],
) -> None:
    """The handler waits at `assistant.starts` before storing anything; its turn gives the
    place back as the model is asked, long before the answer ends; a message that starts
    no turn gives it back at once."""
    send, model, holder = setup
    async with holder.lifespan(None):
        assistant = await holder.get()
        updates = send({"text": "What is this?", "files": []}, [], None, "auto", "", None)
        await anext(updates)
        await asyncio.wait_for(model.asked.wait(), 10)
        assert assistant.starts.at_gate == 0, "given back while the answer is still awaited"
        model.go.set()
        [u async for u in updates]
        empty = send({"text": "  ", "files": []}, [], None, "auto", "", None)
        entered = asyncio.create_task(anext(empty))
        await asyncio.wait_for(entered, 10)
        assert assistant.starts.at_gate == 0  # no turn: nothing held while Gradio sends it
        [u async for u in empty]


async def test_the_message_is_shown_once_no_other_turn_is_starting(tmp_path: Path) -> None:
    """Under a burst, showing a message (the page then fetches its picture and follows the
    session) waits until the other turns' model requests are out; alone, it does not."""
    config = load_config(
        {"data_dir": str(tmp_path / "data"), "agent": {"max_steps": 0, "starting_turns": 2}}
    )
    model = GatedModel()
    holder = AssistantHolder(config, model=model)
    send = _send_handler(build_app(config, holder))
    async with holder.lifespan(None):
        assistant = await holder.get()
        other = await assistant.starts.enter()  # another turn, still preparing its request
        updates = send({"text": "What is this?", "files": []}, [], None, "auto", "", None)
        shown = asyncio.create_task(anext(updates))
        await asyncio.wait_for(model.asked.wait(), 10)  # this turn's request is out ...
        for _ in range(20):
            await asyncio.sleep(0)
        assert not shown.done(), "... but its message waits for the other turn"
        other.release()
        first = await asyncio.wait_for(shown, 5)
        assert first[1][-1] == page_line("user", "What is this?")
        model.go.set()
        [u async for u in updates]
