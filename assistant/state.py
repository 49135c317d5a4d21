"""Graph state and the run-scoped context injected into nodes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages

from assistant.config import ModelProfile
from assistant.llm import ChatModel
from tools.attachments import Attachment
from tools.registry import Registry

Route = Literal["tools", "respond", "end"]


class AgentState(TypedDict, total=False):
    """What the checkpointer keeps for a session."""

    messages: Annotated[list[AnyMessage], add_messages]
    steps: int
    force_tool: str | None
    planned_call: dict[str, Any] | None  # {"name", "args"}: the turn's first step, fixed
    direct: bool  # the person ran planned_call themselves: run it, then end (no answer)
    route: Route


@dataclass
class AgentContext:
    """Run-scoped dependencies: the model, its profile, the tools and the session's files."""

    model: ChatModel
    profile: ModelProfile
    registry: Registry
    session_id: str
    session_dir: Path
    attachments: Mapping[str, Attachment] = field(default_factory=dict)
    max_steps: int = 6
    history_messages: int = 40
    deid_key: str = ""
    tool_deps: Sequence[object] = ()
