"""Chat backends: the Protocol the agent uses, and the real one over vLLM's OpenAI API."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import openai

from tools.errors import LLMResponseError, LLMTimeoutError, LLMUnavailableError

Message = dict[str, Any]
"""One OpenAI-format chat message."""


@dataclass(frozen=True)
class ToolCall:
    """A tool call the model asked for (native function calling or a constrained action)."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ChatRequest:
    """One chat completion request."""

    messages: Sequence[Message]
    max_tokens: int
    temperature: float = 0.0
    frequency_penalty: float = 0.0
    json_schema: dict[str, Any] | None = None
    tools: Sequence[dict[str, Any]] | None = None
    tool_choice: Literal["auto", "required"] | str | None = None
    extra_body: dict[str, Any] | None = None


@dataclass
class ChatChunk:
    """A streamed piece of an answer: text, and at the end any tool calls and usage."""

    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    completion_tokens: int | None = None
    prompt_tokens: int | None = None
    finish_reason: str | None = None


class ChatModel(Protocol):
    """What the agent needs from a model server."""

    def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """Stream the answer to `request`."""
        ...


async def collect(model: ChatModel, request: ChatRequest) -> ChatChunk:
    """Run a request to completion and merge its chunks."""
    out = ChatChunk()
    async for chunk in model.stream(request):
        out.text += chunk.text
        out.tool_calls.extend(chunk.tool_calls)
        out.completion_tokens = chunk.completion_tokens or out.completion_tokens
        out.prompt_tokens = chunk.prompt_tokens or out.prompt_tokens
        out.finish_reason = chunk.finish_reason or out.finish_reason
    return out


class OpenAIChatModel:
    """ChatModel over an OpenAI-compatible server (vLLM), with timeouts and bounded retries."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str = "EMPTY",
        timeout_s: float = 120.0,
        connect_timeout_s: float = 5.0,
        max_retries: int = 2,
    ) -> None:
        self.base_url = base_url
        self.model = model
        self._client = openai.AsyncOpenAI(
            base_url=base_url,
            api_key=api_key,
            timeout=openai.Timeout(timeout_s, connect=connect_timeout_s),
            max_retries=max_retries,
        )

    def _kwargs(self, request: ChatRequest) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": list(request.messages),
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "frequency_penalty": request.frequency_penalty,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.extra_body:
            kwargs["extra_body"] = dict(request.extra_body)
        if request.json_schema is not None:
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "action", "schema": request.json_schema, "strict": True},
            }
        if request.tools:
            kwargs["tools"] = list(request.tools)
            choice = request.tool_choice or "auto"
            kwargs["tool_choice"] = (
                choice
                if choice in ("auto", "required", "none")
                else {"type": "function", "function": {"name": choice}}
            )
        return kwargs

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """Stream text deltas; tool calls and token usage arrive in the last chunk."""
        pending: dict[int, dict[str, str]] = {}
        finish: str | None = None
        try:
            response = await self._client.chat.completions.create(**self._kwargs(request))
            async for event in response:
                usage = event.usage.completion_tokens if event.usage else None
                if not event.choices:
                    if event.usage is not None:
                        yield ChatChunk(
                            completion_tokens=usage, prompt_tokens=event.usage.prompt_tokens
                        )
                    continue
                choice = event.choices[0]
                finish = choice.finish_reason or finish
                for delta in choice.delta.tool_calls or []:
                    slot = pending.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                    slot["id"] = delta.id or slot["id"]
                    if delta.function is not None:
                        slot["name"] += delta.function.name or ""
                        slot["arguments"] += delta.function.arguments or ""
                if choice.delta.content:
                    yield ChatChunk(text=choice.delta.content, completion_tokens=usage)
        except openai.APITimeoutError as exc:
            raise LLMTimeoutError(
                f"the model server at {self.base_url} did not answer in time; "
                "try again, or raise llm.timeout_s"
            ) from exc
        except openai.APIConnectionError as exc:
            raise LLMUnavailableError(
                f"the model server at {self.base_url} is not reachable; start it with "
                "`medassist serve-llm` (or check --llm-url) and send the message again"
            ) from exc
        except openai.APIStatusError as exc:
            raise LLMResponseError(
                f"the model server refused the request ({exc.status_code}): {_detail(exc)}"
            ) from exc
        calls = [
            ToolCall(id=s["id"] or f"call_{i}", name=s["name"], arguments=s["arguments"])
            for i, s in sorted(pending.items())
        ]
        yield ChatChunk(tool_calls=calls, finish_reason=finish)

    async def close(self) -> None:
        """Release the HTTP connection pool."""
        await self._client.close()


def _detail(exc: openai.APIStatusError) -> str:
    try:
        body = exc.response.json()
    except (json.JSONDecodeError, ValueError):
        return exc.response.text[:300]
    message = body.get("error", {}).get("message") if isinstance(body, dict) else None
    return str(message or body)[:300]
