"""Graph nodes: decide (tool or answer), run_tools, respond, review. Verbs; wired in graph.py."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence
from functools import partial
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage
from langgraph.config import get_stream_writer
from langgraph.runtime import Runtime

from assistant import prompts
from assistant.actions import action_schema, native_tools, parse_action, scope_of
from assistant.events import (
    AnswerReviewed,
    Notice,
    Token,
    ToolFinished,
    ToolStarted,
    ToolStatus,
)
from assistant.llm import ChatRequest, Message, ToolCall, collect, stream_answer
from assistant.messages import ARTIFACTS_KEY, SYNTHETIC_KEY, to_openai
from assistant.review import REVIEW_KEY, review_answer
from assistant.state import AgentContext, AgentState, Route
from tools.errors import InputError, ToolArgumentError, ToolError
from tools.registry import Tool, ToolContext


def _recent(state: AgentState, ctx: AgentContext) -> list[AnyMessage]:
    messages = list(state.get("messages", []))
    return messages[-ctx.history_messages :]


async def _prompt(
    state: AgentState, ctx: AgentContext, system: str, **kw: bool
) -> list[Message]:
    """The recent history in the model's format, after `system`.

    Images are rendered off the event loop (a slide thumbnail or a CT slice takes a while).
    """
    history = _recent(state, ctx)
    return await asyncio.to_thread(
        partial(to_openai, history, ctx.profile, ctx.attachments, ctx.session_dir, system, **kw)
    )


def _usable_tools(ctx: AgentContext) -> list[Tool]:
    return ctx.registry.available(has_images=bool(ctx.attachments))


def _forced(state: AgentState, ctx: AgentContext) -> Tool | None:
    name = state.get("force_tool")
    return ctx.registry.get(name) if name and state.get("steps", 0) == 0 else None


def _as_ai_message(calls: Sequence[ToolCall], text: str = "") -> AIMessage:
    parsed = []
    for call in calls:
        try:
            args = json.loads(call.arguments or "{}")
        except json.JSONDecodeError:
            args = {"__raw__": call.arguments}
        parsed.append(
            {
                "id": call.id,
                "name": call.name,
                "args": args if isinstance(args, dict) else {"__raw__": args},
            }
        )
    return AIMessage(content=text, tool_calls=parsed)


async def decide(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Ask the model for the next step: a tool call, or (constrained mode) hand over to respond."""
    ctx = runtime.context
    if state.get("steps", 0) >= ctx.max_steps:
        return {"route": "respond"}
    planned = state.get("planned_call") if state.get("steps", 0) == 0 else None
    if planned is not None:  # e.g. a region the user drew: look there first
        args = json.dumps(planned["args"])
        first = ToolCall(f"call_{uuid.uuid4().hex[:12]}", planned["name"], args)
        return {"messages": [_as_ai_message([first])], "route": "tools"}
    if ctx.profile.tool_calling == "native":
        return await _decide_native(state, ctx)
    forced = _forced(state, ctx)
    tools = [forced] if forced else _usable_tools(ctx)
    scope = scope_of(ctx)
    system = prompts.action_prompt(tools, scope, forced=forced is not None)
    request = ChatRequest(
        messages=await _prompt(state, ctx, system),
        max_tokens=ctx.profile.sampling.action_max_tokens,
        temperature=0.0,
        json_schema=action_schema(tools, scope, allow_answer=forced is None),
    )
    reply = await collect(ctx.model, request)
    writer = get_stream_writer()
    try:
        call = parse_action(reply.text)
    except ToolArgumentError as exc:
        writer(Notice(f"model action ignored: {exc}"))
        return {"route": "respond"}
    if call is None:
        return {"route": "respond"}
    if _repeats_this_turn(state, call):
        writer(Notice(f"{call.name} was already called with these arguments"))
        return {"route": "respond"}
    return {"messages": [_as_ai_message([call])], "route": "tools"}


def _repeats_this_turn(state: AgentState, call: ToolCall) -> bool:
    """Whether the same tool was already called with the same arguments since the user spoke."""
    args = json.loads(call.arguments or "{}")
    for msg in reversed(state.get("messages", [])):
        if isinstance(msg, HumanMessage) and not msg.additional_kwargs.get(SYNTHETIC_KEY):
            return False
        if isinstance(msg, AIMessage) and any(
            c["name"] == call.name and c["args"] == args for c in msg.tool_calls
        ):
            return True
    return False


async def _decide_native(state: AgentState, ctx: AgentContext) -> dict[str, Any]:
    forced = _forced(state, ctx)
    tools = [forced] if forced else _usable_tools(ctx)
    request = ChatRequest(
        messages=await _prompt(state, ctx, prompts.native_prompt(list(ctx.attachments.values()))),
        max_tokens=ctx.profile.sampling.max_tokens,
        temperature=ctx.profile.sampling.temperature,
        tools=native_tools(tools, scope_of(ctx), forced=forced is not None) or None,
        tool_choice=forced.name if forced else ("auto" if tools else None),
    )
    writer = get_stream_writer()
    reply = await stream_answer(ctx.model, request, lambda text: writer(Token(text)))
    # Calls of an answer cut short may be truncated: the cut text is the answer instead.
    calls = [] if reply.incomplete else reply.tool_calls
    if reply.incomplete:
        writer(Notice(reply.advice))
    message = _as_ai_message(calls, reply.text)
    message.additional_kwargs.update(reply.marks())
    route: Route = "tools" if calls else "end"
    return {"messages": [message], "route": route}


async def run_tools(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Execute the last message's tool calls; argument and input errors go back to the model.

    Any other exception is a bug: its step is closed as failed for the UI, then it ends the
    turn (the façade logs it and reports it as TurnFailed).
    """
    ctx = runtime.context
    last = state["messages"][-1]
    assert isinstance(last, AIMessage), "run_tools follows an AIMessage with tool calls"
    writer = get_stream_writer()
    tool_ctx = ToolContext(
        ctx.session_id, ctx.session_dir, ctx.attachments, ctx.deid_key, ctx.tool_deps
    )
    out: list[AnyMessage] = []
    images: list[str] = []
    for call in last.tool_calls:
        call_id, name = call["id"] or "", call["name"]
        writer(ToolStarted(call_id, name, dict(call["args"])))
        status: ToolStatus = "success"
        artifacts: list[dict[str, Any]] = []
        try:
            tool = ctx.registry.get(name)
            result = await tool.run(tool.parse_args(call["args"]), tool_ctx)
        except (ToolError, InputError) as exc:
            status, content = "error", str(exc)
        except Exception:
            writer(ToolFinished(call_id, name, "error", "the tool failed unexpectedly"))
            raise
        else:
            content = result.for_model()
            artifacts = [a.model_dump() for a in result.artifacts]
            images += [a.path for a in result.artifacts if a.kind == "image"]
        out.append(
            ToolMessage(
                content=content,
                tool_call_id=call_id,
                name=name,
                status=status,
                artifact=artifacts,
            )
        )
        writer(ToolFinished(call_id, name, status, content, artifacts))
    if images and ctx.profile.vision:
        # vLLM refuses images inside tool messages: send them in a following user message.
        out.append(
            HumanMessage(
                content="Images produced by the tools above.",
                additional_kwargs={ARTIFACTS_KEY: images, SYNTHETIC_KEY: True},
            )
        )
    return {"messages": out, "steps": state.get("steps", 0) + 1}


async def respond(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Stream the answer to the user, grounded in the conversation and tool results."""
    ctx = runtime.context
    attachments = list(ctx.attachments.values())
    request = ChatRequest(
        messages=await _prompt(
            state, ctx, prompts.answer_prompt(_usable_tools(ctx), attachments), show_actions=False
        ),
        max_tokens=ctx.profile.sampling.max_tokens,
        temperature=ctx.profile.sampling.temperature,
        frequency_penalty=ctx.profile.sampling.frequency_penalty,
    )
    writer = get_stream_writer()
    reply = await stream_answer(ctx.model, request, lambda text: writer(Token(text)))
    if reply.incomplete:  # kept, and stored marked as cut short (never as complete)
        writer(Notice(reply.advice))
    answer = AIMessage(content=reply.text.strip(), additional_kwargs=reply.marks())
    return {"messages": [answer], "route": "end"}


async def review(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """List the turn's tools under the answer and mark sentences its results do not back."""
    messages = list(state.get("messages", []))
    last = messages[-1] if messages else None
    if not isinstance(last, AIMessage) or last.tool_calls or not last.content:
        return {}
    result = review_answer(str(last.content), messages[:-1])
    get_stream_writer()(
        AnswerReviewed(result.summary(), [(m.sentence, m.problem) for m in result.marks])
    )
    kwargs = {**last.additional_kwargs, REVIEW_KEY: result.model_dump()}
    return {"messages": [last.model_copy(update={"additional_kwargs": kwargs})]}
