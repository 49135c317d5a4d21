"""The agent graph, wired in one place: decide → (run_tools → decide)* → respond → review.

A tool the person runs directly takes one step: decide (the planned call) → run_tools → end.
"""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from assistant.nodes import decide, respond, review, run_tools
from assistant.state import AgentContext, AgentState


def route_after_decide(state: AgentState) -> str:
    """Follow the route `decide` chose; a native model's own answer goes to review."""
    return {"tools": "run_tools", "respond": "respond"}.get(state.get("route", "end"), "review")


def route_after_tools(state: AgentState) -> str:
    """A tool the person ran directly ends the run; otherwise the model decides again."""
    return END if state.get("direct") else "decide"


def build_graph(
    checkpointer: BaseCheckpointSaver[Any] | None = None,
) -> CompiledStateGraph[AgentState, AgentContext, AgentState, AgentState]:
    """Compile the agent graph, optionally with a checkpointer for persistent sessions."""
    builder = StateGraph(AgentState, context_schema=AgentContext)
    builder.add_node("decide", decide)
    builder.add_node("run_tools", run_tools)
    builder.add_node("respond", respond)
    builder.add_node("review", review)
    builder.add_edge(START, "decide")
    builder.add_conditional_edges("decide", route_after_decide, ["run_tools", "respond", "review"])
    builder.add_conditional_edges("run_tools", route_after_tools, ["decide", END])
    builder.add_edge("respond", "review")
    builder.add_edge("review", END)
    return builder.compile(checkpointer=checkpointer)


graph = build_graph()
"""Module-level graph without persistence (for inspection and tests)."""
