"""A ChatModel wrapper that counts requests and tokens, per item and in total.

Items run concurrently, so the per-item counter travels in a context variable: each
item's task sets its own, and the graph's node tasks inherit it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextvars import ContextVar
from dataclasses import dataclass

from assistant.llm import ChatChunk, ChatModel, ChatRequest


@dataclass
class Usage:
    """Requests and tokens spent."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


CURRENT: ContextVar[Usage | None] = ContextVar("medassist_eval_usage", default=None)


class CountingModel:
    """Passes requests through to `inner`, adding their usage to the item's and the total."""

    def __init__(self, inner: ChatModel) -> None:
        self.inner = inner
        self.total = Usage()

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """Stream from the inner model; the server's usage report is counted once."""
        counters = [self.total, *([u] if (u := CURRENT.get()) is not None else [])]
        for usage in counters:
            usage.requests += 1
        async for chunk in self.inner.stream(request):
            if chunk.prompt_tokens is not None:  # the final usage chunk
                for usage in counters:
                    usage.prompt_tokens += chunk.prompt_tokens
                    usage.completion_tokens += chunk.completion_tokens or 0
            yield chunk

    async def close(self) -> None:
        """Close the inner client."""
        close = getattr(self.inner, "close", None)
        if close is not None:
            await close()
