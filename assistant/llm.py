"""Chat backends: the Protocol the agent uses, and the real one over vLLM's OpenAI API."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, Protocol

import openai
import pydantic

from tools.errors import LLMError, LLMResponseError, LLMTimeoutError, LLMUnavailableError

Message = dict[str, Any]
"""One OpenAI-format chat message."""

INCOMPLETE_KEY = "incomplete"
"""`additional_kwargs` key of a stored answer that was cut short; its value says why."""


class Incomplete(StrEnum):
    """Why an answer stopped before the model finished it (shown as "(incomplete: …)")."""

    DROPPED = "the model server dropped the connection"
    STALLED = "the model server stopped sending"
    MALFORMED = "the model server sent a malformed stream"
    SERVER_ERROR = "the model server failed mid-answer"
    TOKEN_LIMIT = "the answer reached the token limit"


class LLMInterruptedError(LLMError):
    """A streamed answer broke off after it started; the text received so far is usable.

    `reason` is the short form for the incomplete mark; the message says what to do.
    """

    def __init__(self, reason: Incomplete, message: str) -> None:
        super().__init__(message)
        self.reason = reason


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


@dataclass
class StreamedAnswer:
    """An answer streamed to the person: its text, tool calls, and why it is cut short if so."""

    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    incomplete: Incomplete | None = None
    advice: str = ""

    def marks(self) -> dict[str, str]:
        """`additional_kwargs` for the stored AIMessage: the incomplete mark, if any."""
        return {INCOMPLETE_KEY: str(self.incomplete)} if self.incomplete else {}


async def stream_answer(
    model: ChatModel, request: ChatRequest, on_text: Callable[[str], None]
) -> StreamedAnswer:
    """Stream an answer through `on_text`, keeping what arrived if the stream breaks off.

    A break before any text arrived has nothing to keep and raises. A stop at the token
    limit is an answer cut short too, even though the server reports it as normal.
    """
    out = StreamedAnswer()
    finish: str | None = None
    try:
        async for chunk in model.stream(request):
            if chunk.text:
                out.text += chunk.text
                on_text(chunk.text)
            out.tool_calls.extend(chunk.tool_calls)
            finish = chunk.finish_reason or finish
    except LLMInterruptedError as exc:
        if not out.text.strip():
            raise
        out.incomplete, out.advice = exc.reason, str(exc)
    if out.incomplete is None and finish == "length":
        out.incomplete = Incomplete.TOKEN_LIMIT
        out.advice = (
            f"the answer reached the token limit ({request.max_tokens} tokens, "
            "sampling.max_tokens of the model profile); ask for the rest, or raise the limit"
        )
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
        """Stream text deltas; tool calls, usage and the finish reason arrive in the last chunk.

        Failures before the first event are the plain LLM errors (unreachable, timeout,
        refused). Once the stream has started, a broken connection, a stall, a malformed
        event, an error event or an end without a finish reason raise
        `LLMInterruptedError`: the caller keeps what it received and marks it incomplete.
        """
        pending: dict[int, dict[str, str]] = {}
        finish: str | None = None
        try:
            response = await self._client.chat.completions.create(**self._kwargs(request))
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
            raise LLMResponseError(_status_message(exc)) from exc
        try:
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
            raise self._interrupted(
                Incomplete.STALLED, "raise llm.timeout_s if it is slow"
            ) from exc
        except openai.APIConnectionError as exc:
            raise self._interrupted(Incomplete.DROPPED) from exc
        except (json.JSONDecodeError, pydantic.ValidationError) as exc:
            raise self._interrupted(Incomplete.MALFORMED) from exc
        except openai.APIError as exc:
            raise self._interrupted(
                Incomplete.SERVER_ERROR, f"it said: {exc.message[:200]}"
            ) from exc
        if finish is None:  # the body ended cleanly but the answer never did
            raise self._interrupted(Incomplete.DROPPED)
        calls = [
            ToolCall(id=s["id"] or f"call_{i}", name=s["name"], arguments=s["arguments"])
            for i, s in sorted(pending.items())
        ]
        yield ChatChunk(tool_calls=calls, finish_reason=finish)

    def _interrupted(self, reason: Incomplete, hint: str = "") -> LLMInterruptedError:
        advice = f"{hint}; " if hint else ""
        return LLMInterruptedError(
            reason,
            f"{reason} at {self.base_url} before the answer was finished; {advice}"
            "send the message again once the server is back (see its log)",
        )

    async def close(self) -> None:
        """Release the HTTP connection pool."""
        await self._client.close()


def _status_message(exc: openai.APIStatusError) -> str:
    if exc.status_code >= 500:
        return (
            f"the model server failed ({exc.status_code}): {_detail(exc)}; "
            "send the message again, and see the server's log if it keeps failing"
        )
    return f"the model server refused the request ({exc.status_code}): {_detail(exc)}"


def _detail(exc: openai.APIStatusError) -> str:
    try:
        body = exc.response.json()
    except (json.JSONDecodeError, ValueError):
        return exc.response.text[:300]
    message = body.get("error", {}).get("message") if isinstance(body, dict) else None
    return str(message or body)[:300]
