"""What a turn reports while it runs: tokens, tool steps, notices, errors, the end.

Graph nodes write these dataclasses to LangGraph's custom stream; the `Assistant` façade
passes them on to the UI and the CLI unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ToolStatus = Literal["success", "error"]


@dataclass(frozen=True)
class Token:
    """A piece of the streamed answer."""

    text: str


@dataclass(frozen=True)
class ToolStarted:
    """The agent (or the person, directly) called a tool."""

    call_id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class ToolFinished:
    """A tool returned ('success') or failed with a message for the model ('error')."""

    call_id: str
    name: str
    status: ToolStatus
    content: str
    artifacts: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Notice:
    """Something the user should know that is not part of the answer."""

    text: str


@dataclass(frozen=True)
class AnswerReviewed:
    """What the answer rests on: its tools, and the sentences its results do not back.

    `summary` names the tools of the turn (or says none ran); `marks` are (sentence,
    problem) pairs.
    """

    summary: str
    marks: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class TurnQueued:
    """The server is busy: the turn waits for a slot (`position` 1 is next) and then runs.

    Sent at once when the turn has to wait, and again whenever its place changes.
    """

    position: int
    running: int
    reason: str

    @property
    def text(self) -> str:
        """The message shown to the person."""
        return (
            f"Busy: {self.reason}. Your message is queued (position {self.position}) "
            "and will run as soon as a turn ends; nothing needs to be sent again."
        )


@dataclass(frozen=True)
class TurnFailed:
    """The turn could not finish; the message says why and what to do. History is kept."""

    message: str


@dataclass(frozen=True)
class TurnDone:
    """The turn finished; `answer` is the final assistant text.

    `incomplete` says why the answer was cut short (stream broke off, token limit); such
    an answer is stored with the same mark and must never be shown as complete.
    """

    answer: str
    incomplete: str | None = None


TurnEvent = (
    Token
    | ToolStarted
    | ToolFinished
    | Notice
    | AnswerReviewed
    | TurnQueued
    | TurnFailed
    | TurnDone
)
STREAMED = (Token, ToolStarted, ToolFinished, Notice, AnswerReviewed)
"""The events graph nodes write to the custom stream."""
