"""The real graph driven by a scripted fake model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from assistant.catalog import REGISTRY
from assistant.config import load_profile
from assistant.events import Notice, Token, ToolFinished, ToolStarted
from assistant.graph import build_graph
from assistant.llm import ToolCall
from assistant.state import AgentContext
from assistant.testing import DeadChatModel, ScriptedChatModel
from tests.conftest import make_attachment
from tools.errors import LLMUnavailableError

DESCRIBE = '{"tool": "describe_image", "arguments": {"image_id": "img1"}}'
ANSWER = '{"tool": "answer"}'


def _context(
    model: Any, tmp_path: Path, png: Path | None, profile: str = "smollm2-135m", **kw: Any
) -> AgentContext:
    attachments = {"img1": make_attachment(png)} if png else {}
    return AgentContext(
        model=model,
        profile=load_profile(profile),
        registry=REGISTRY,
        session_id="s1",
        session_dir=tmp_path,
        attachments=attachments,
        **kw,
    )


async def _run(
    ctx: AgentContext, text: str, **extra: Any
) -> tuple[dict[str, Any], list[Any]]:
    events: list[Any] = []
    state: dict[str, Any] = {}
    graph = build_graph()
    inputs = {
        "messages": [HumanMessage(content=text, additional_kwargs={"attachments": ["img1"]})],
        "steps": 0,
        **extra,
    }
    async for mode, chunk in graph.astream(inputs, context=ctx, stream_mode=["custom", "values"]):
        if mode == "custom":
            events.append(chunk)
        else:
            state = chunk
    return state, events


def test_topology() -> None:
    g = build_graph().get_graph()
    edges = {(e.source, e.target) for e in g.edges}
    assert edges == {
        ("__start__", "decide"),
        ("decide", "run_tools"),
        ("decide", "respond"),
        ("decide", "review"),
        ("run_tools", "decide"),
        ("run_tools", "__end__"),
        ("respond", "review"),
        ("review", "__end__"),
    }


async def test_constrained_tool_then_answer(tmp_path: Path, gradient_png: Path) -> None:
    model = ScriptedChatModel([DESCRIBE, ANSWER, "The image is 64 by 48 pixels."])
    state, events = await _run(_context(model, tmp_path, gradient_png), "How big is it?")
    tool_msg = next(m for m in state["messages"] if isinstance(m, ToolMessage))
    result = json.loads(tool_msg.content)
    assert (result["width_px"], result["height_px"]) == (64, 48)
    assert result["stats"][0]["max"] == 252.0
    assert state["messages"][-1].content == "The image is 64 by 48 pixels."
    assert (
        "".join(e.text for e in events if isinstance(e, Token)) == "The image is 64 by 48 pixels."
    )
    assert [type(e) for e in events if isinstance(e, ToolStarted | ToolFinished)] == [
        ToolStarted,
        ToolFinished,
    ]
    # The action request is grammar-constrained and the image id is narrowed to real ids.
    schema = model.requests[0].json_schema
    assert schema is not None
    describe = next(
        o for o in schema["anyOf"] if o["properties"]["tool"]["const"] == "describe_image"
    )
    assert describe["properties"]["arguments"]["properties"]["image_id"]["enum"] == ["img1"]
    # The tool result reaches the answer request.
    assert any(
        "Tool result (describe_image)" in str(m["content"]) for m in model.requests[2].messages
    )


async def test_bad_arguments_go_back_to_model(tmp_path: Path, gradient_png: Path) -> None:
    bad = '{"tool": "describe_image", "arguments": {"image_id": "img9"}}'
    model = ScriptedChatModel([bad, ANSWER, "Sorry."])
    state, _ = await _run(_context(model, tmp_path, gradient_png), "describe")
    tool_msg = next(m for m in state["messages"] if isinstance(m, ToolMessage))
    assert tool_msg.status == "error"
    assert "no attachment 'img9'" in tool_msg.content and "img1" in tool_msg.content
    assert any(
        "Tool error (describe_image)" in str(m["content"]) for m in model.requests[1].messages
    )


async def test_step_limit_forces_answer(tmp_path: Path, gradient_png: Path) -> None:
    model = ScriptedChatModel([DESCRIBE, "Done."])
    state, _ = await _run(_context(model, tmp_path, gradient_png, max_steps=1), "loop")
    assert sum(isinstance(m, ToolMessage) for m in state["messages"]) == 1
    assert state["messages"][-1].content == "Done."
    assert len(model.requests) == 2 and model.requests[-1].json_schema is None


async def test_repeated_call_hands_over_to_answer(tmp_path: Path, gradient_png: Path) -> None:
    model = ScriptedChatModel([DESCRIBE, DESCRIBE, "Done."])
    state, events = await _run(_context(model, tmp_path, gradient_png), "loop")
    assert sum(isinstance(m, ToolMessage) for m in state["messages"]) == 1
    assert any(isinstance(e, Notice) and "already called" in e.text for e in events)
    assert state["messages"][-1].content == "Done."
    # The written answer does not see earlier JSON actions, only their results.
    answer_msgs = model.requests[-1].messages
    assert not any(
        m["role"] == "assistant" and "describe_image" in str(m["content"]) for m in answer_msgs
    )


async def test_forced_tool_excludes_answer(tmp_path: Path, gradient_png: Path) -> None:
    model = ScriptedChatModel([DESCRIBE, ANSWER, "ok"])
    await _run(_context(model, tmp_path, gradient_png), "hi", force_tool="describe_image")
    first = model.requests[0].json_schema
    assert first is not None and first["properties"]["tool"]["const"] == "describe_image"
    second = model.requests[1].json_schema
    assert second is not None and "anyOf" in second


async def test_no_image_means_no_image_tools(tmp_path: Path) -> None:
    model = ScriptedChatModel([ANSWER, "Hello."])
    state, _ = await _run(_context(model, tmp_path, None), "hello")
    schema = model.requests[0].json_schema
    assert schema is not None
    offered = [o["properties"]["tool"]["const"] for o in schema["anyOf"]]
    assert offered == [t.name for t in REGISTRY if not t.needs_image] + ["answer"]
    assert "search_knowledge" in offered and "describe_image" not in offered
    # The optional image argument of a text tool cannot name an image that is not there.
    search = next(
        o for o in schema["anyOf"] if o["properties"]["tool"]["const"] == "search_knowledge"
    )
    image_arg = search["properties"]["arguments"]["properties"]["image_id"]
    assert image_arg["anyOf"] == [{"type": "null"}]
    assert state["messages"][-1].content == "Hello."


async def test_native_tool_calls(tmp_path: Path, gradient_png: Path) -> None:
    call = ToolCall(id="c1", name="describe_image", arguments='{"image_id": "img1"}')
    model = ScriptedChatModel([[call], "It is grayscale."])
    state, _ = await _run(
        _context(model, tmp_path, gradient_png, "qwen2.5-vl-7b-instruct"), "what?"
    )
    assert isinstance(state["messages"][1], AIMessage) and state["messages"][1].tool_calls
    assert state["messages"][-1].content == "It is grayscale."
    tools = model.requests[0].tools
    assert tools is not None and tools[0]["function"]["name"] == "describe_image"
    roles = [m["role"] for m in model.requests[1].messages]
    assert roles[-2:] == ["assistant", "tool"]
    # The vision profile sends the attachment as an image part.
    user = next(m for m in model.requests[0].messages if m["role"] == "user")
    assert user["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")


async def test_dead_server_raises_clear_error(tmp_path: Path, gradient_png: Path) -> None:
    with pytest.raises(LLMUnavailableError, match="not reachable"):
        await _run(_context(DeadChatModel(), tmp_path, gradient_png), "hi")
