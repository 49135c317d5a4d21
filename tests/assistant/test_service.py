"""The Assistant façade: tools the person runs directly, and bugs that end a turn cleanly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, ToolMessage

from assistant.config import load_config
from assistant.events import ToolFinished, ToolStarted, TurnDone, TurnFailed
from assistant.service import Assistant
from assistant.testing import ScriptedChatModel
from tools.registry import Registry, Tool, ToolArgs, ToolContext, ToolResult


class BoomArgs(ToolArgs):
    """No arguments."""


def boom(args: BoomArgs, ctx: ToolContext) -> ToolResult:
    """A tool with a bug."""
    raise ZeroDivisionError("a bug in a tool")


async def test_a_tool_the_person_runs_joins_the_conversation(
    tmp_path: Path, gradient_png: Path
) -> None:
    """run_tool calls no model, stores the call and its result like a model's step, and the
    model sees that result on the next turn."""
    model = ScriptedChatModel(['{"tool": "answer"}', "It is 64 by 48 pixels."])
    config = load_config({"data_dir": str(tmp_path / "data")})
    async with Assistant(config, model=model) as assistant:
        session = assistant.new_session().id
        att = assistant.add_upload(session, gradient_png, "gradient.png")
        events = [
            e async for e in assistant.run_tool(session, "describe_image", {"image_id": att.id})
        ]
        assert not model.requests  # no model involved
        started, finished, done = events
        assert isinstance(started, ToolStarted) and started.name == "describe_image"
        assert isinstance(finished, ToolFinished) and finished.status == "success"
        assert json.loads(finished.content)["width_px"] == 64
        assert isinstance(done, TurnDone) and done.answer == ""
        history = await assistant.history(session)
        assert isinstance(history[1], AIMessage) and history[1].tool_calls[0]["args"] == {
            "image_id": att.id
        }
        assert isinstance(history[2], ToolMessage) and history[2].status == "success"
        events = [e async for e in assistant.run_turn(session, "How big is it?")]
        assert isinstance(events[-1], TurnDone)
        seen = json.dumps(model.requests[0].messages)
        assert "Tool result (describe_image)" in seen and "width_px" in seen


async def test_bad_direct_arguments_fail_and_store_nothing(
    tmp_path: Path, gradient_png: Path
) -> None:
    config = load_config({"data_dir": str(tmp_path / "data")})
    async with Assistant(config, model=ScriptedChatModel([])) as assistant:
        session = assistant.new_session().id
        assistant.add_upload(session, gradient_png, "gradient.png")
        events = [e async for e in assistant.run_tool(session, "describe_image", {"x": 1})]
        assert len(events) == 1 and isinstance(events[0], TurnFailed)
        assert "invalid arguments for describe_image" in events[0].message
        events = [e async for e in assistant.run_tool(session, "nope", {})]
        assert isinstance(events[0], TurnFailed) and "unknown tool 'nope'" in events[0].message
        assert await assistant.history(session) == []


async def test_a_tool_bug_ends_the_turn_cleanly_and_the_session_continues(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    script = ['{"tool": "boom", "arguments": {}}', '{"tool": "answer"}', "Still here."]
    model = ScriptedChatModel(script)
    config = load_config({"data_dir": str(tmp_path / "data")})
    registry = Registry([Tool.from_function(boom)])
    async with Assistant(config, model=model, registry=registry) as assistant:
        session = assistant.new_session().id
        events = [e async for e in assistant.run_turn(session, "Do the thing.")]
        finished = [e for e in events if isinstance(e, ToolFinished)]
        assert [(f.name, f.status) for f in finished] == [("boom", "error")]
        assert isinstance(events[-1], TurnFailed)
        assert "ZeroDivisionError" in events[-1].message and "logged" in events[-1].message
        assert "a bug in a tool" in caplog.text and "Traceback" in caplog.text
        # The session goes on: the user's message is kept and the next turn works.
        events = [e async for e in assistant.run_turn(session, "Answer instead.")]
        assert isinstance(events[-1], TurnDone) and events[-1].answer == "Still here."
        history = await assistant.history(session)
        texts = [m.content for m in history]
        assert "Do the thing." in texts and "Still here." in texts


async def test_a_session_without_turns_can_be_deleted(tmp_path: Path, gradient_png: Path) -> None:
    config = load_config({"data_dir": str(tmp_path / "data")})
    async with Assistant(config, model=ScriptedChatModel([])) as assistant:
        session = assistant.new_session().id
        assistant.add_upload(session, gradient_png, "gradient.png")
        await assistant.delete_session(session)  # no checkpoint table written yet
        assert not assistant.session_dir(session).exists()
        assert session not in [s.id for s in assistant.list_sessions()]


async def test_a_bug_while_preparing_a_turn_ends_it_cleanly(
    tmp_path: Path,
    gradient_png: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bug before the graph starts (building the context) keeps the promise too: logged with
    its trace, TurnFailed for the person, and the next turn runs."""
    model = ScriptedChatModel(['{"tool": "answer"}', "Fine again."])
    config = load_config({"data_dir": str(tmp_path / "data")})
    async with Assistant(config, model=model) as assistant:
        session = assistant.new_session().id
        assistant.add_upload(session, gradient_png, "gradient.png")
        real = assistant._context

        def broken(session_id: str) -> object:
            raise KeyError("context bug")

        monkeypatch.setattr(assistant, "_context", broken)
        for events in (
            [e async for e in assistant.run_turn(session, "Hello?")],
            [e async for e in assistant.run_tool(session, "describe_image", {"image_id": "img1"})],
        ):
            assert len(events) == 1 and isinstance(events[0], TurnFailed)
            assert "KeyError" in events[0].message and "logged" in events[0].message
        assert "context bug" in caplog.text and "Traceback" in caplog.text
        assert not model.requests
        monkeypatch.setattr(assistant, "_context", real)
        events = [e async for e in assistant.run_turn(session, "Hello again?")]
        assert isinstance(events[-1], TurnDone) and events[-1].answer == "Fine again."
