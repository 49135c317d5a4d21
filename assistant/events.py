"""What a turn reports while it runs: tokens, tool steps, notices, errors, the end."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Token:
    """A piece of the streamed answer."""

    text: str


@dataclass(frozen=True)
class ToolStarted:
    """The agent called a tool."""

    call_id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class ToolFinished:
    """A tool returned (status 'success') or failed with a message for the model ('error')."""

    call_id: str
    name: str
    status: str
    content: str
    artifacts: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Notice:
    """Something the user should know that is not part of the answer."""

    text: str


@dataclass(frozen=True)
class TurnFailed:
    """The turn could not finish; the message says why and what to do. History is kept."""

    message: str


@dataclass(frozen=True)
class TurnDone:
    """The turn finished; `answer` is the final assistant text."""

    answer: str


TurnEvent = Token | ToolStarted | ToolFinished | Notice | TurnFailed | TurnDone


def from_stream(chunk: dict[str, Any]) -> TurnEvent | None:
    """Convert a custom stream item written by a graph node."""
    kind = chunk.get("event")
    if kind == "token":
        return Token(chunk["text"])
    if kind == "tool_start":
        return ToolStarted(chunk["call_id"], chunk["name"], dict(chunk["arguments"]))
    if kind == "tool_end":
        return ToolFinished(
            chunk["call_id"], chunk["name"], chunk["status"], chunk["content"], chunk["artifacts"]
        )
    if kind == "notice":
        return Notice(chunk["text"])
    return None
