"""Test doubles shipped with the package: a scripted chat model that records requests.

Use it to drive the real graph in unit tests::

    model = ScriptedChatModel(['{"tool": "describe_image", "arguments": {"image_id": "img1"}}',
                               '{"tool": "answer"}', "It is a 64x64 image."])
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from assistant.llm import ChatChunk, ChatRequest, ToolCall
from tools.errors import LLMUnavailableError


@dataclass
class ScriptedChatModel:
    """Replies with the scripted items in order; each is text or a list of tool calls.

    An `Exception` instance in the script is raised instead of replying. Text is streamed
    word by word so streaming paths are exercised. Every request is kept in `requests`.
    """

    script: Sequence[str | list[ToolCall] | Exception]
    requests: list[ChatRequest] = field(default_factory=list)
    _next: int = 0

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """Yield the next scripted reply."""
        self.requests.append(request)
        if self._next >= len(self.script):
            raise AssertionError(f"script exhausted after {len(self.script)} replies")
        item = self.script[self._next]
        self._next += 1
        if isinstance(item, Exception):
            raise item
        if isinstance(item, list):
            yield ChatChunk(tool_calls=list(item), finish_reason="tool_calls")
            return
        words = item.split(" ")
        for i, word in enumerate(words):
            yield ChatChunk(text=word if i == 0 else " " + word)
        yield ChatChunk(completion_tokens=len(words), finish_reason="stop")


class DeadChatModel:
    """A model server that is down: every request fails like a refused connection."""

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """Fail at once."""
        raise LLMUnavailableError("the model server at http://127.0.0.1:9/v1 is not reachable")
        yield ChatChunk()  # pragma: no cover - makes this an async generator
