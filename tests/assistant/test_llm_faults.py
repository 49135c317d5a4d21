"""The OpenAI client against a real fault-injecting server: every break is named, text kept."""

from __future__ import annotations

import pytest

from assistant.llm import (
    ChatRequest,
    Incomplete,
    LLMInterruptedError,
    OpenAIChatModel,
    StreamedAnswer,
    stream_answer,
)
from tests.faults.fixture import FaultServer
from tests.faults.server import DEFAULT_TEXT
from tools.errors import LLMResponseError, LLMUnavailableError

REQUEST = ChatRequest(messages=[{"role": "user", "content": "Say hello."}], max_tokens=32)


def _client(server: FaultServer, **kw: float) -> OpenAIChatModel:
    return OpenAIChatModel(
        server.url,
        "fault",
        timeout_s=kw.get("timeout_s", 5.0),
        max_retries=int(kw.get("retries", 0)),
    )


async def _answer(client: OpenAIChatModel) -> tuple[StreamedAnswer, list[str]]:
    seen: list[str] = []
    try:
        return await stream_answer(client, REQUEST, seen.append), seen
    finally:
        await client.close()


async def test_a_normal_stream_is_complete(fault_server: FaultServer) -> None:
    answer, seen = await _answer(_client(fault_server))
    assert answer.text == DEFAULT_TEXT and "".join(seen) == DEFAULT_TEXT
    assert answer.incomplete is None and answer.marks() == {}


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("drop", Incomplete.DROPPED),  # connection cut inside the chunked body
        ("eof", Incomplete.DROPPED),  # clean end of body, but no finish reason nor [DONE]
        ("malformed", Incomplete.MALFORMED),
        ("error_event", Incomplete.SERVER_ERROR),
    ],
)
async def test_a_stream_broken_mid_answer_keeps_the_text_and_says_why(
    fault_server: FaultServer, mode: str, reason: Incomplete
) -> None:
    fault_server.set(mode, after=2)
    answer, seen = await _answer(_client(fault_server))
    assert answer.text == "Hello there," == "".join(seen)
    assert answer.incomplete is reason
    assert answer.marks() == {"incomplete": str(reason)}
    assert fault_server.url in answer.advice and "send the message again" in answer.advice


async def test_a_stall_mid_answer_ends_at_the_read_timeout(fault_server: FaultServer) -> None:
    fault_server.set("stall", after=3, stall_s=20)
    answer, _ = await _answer(_client(fault_server, timeout_s=1.0))
    assert answer.text == "Hello there, the"
    assert answer.incomplete is Incomplete.STALLED and "llm.timeout_s" in answer.advice


async def test_the_token_limit_marks_the_answer_incomplete(fault_server: FaultServer) -> None:
    fault_server.set("length", after=4)
    answer, _ = await _answer(_client(fault_server))
    assert answer.text == "Hello there, the answer"
    assert answer.incomplete is Incomplete.TOKEN_LIMIT and "32 tokens" in answer.advice


async def test_a_break_before_any_text_raises_the_clear_error(fault_server: FaultServer) -> None:
    fault_server.set("drop", after=0)
    with pytest.raises(LLMInterruptedError, match="dropped the connection") as info:
        await _answer(_client(fault_server))
    assert info.value.reason is Incomplete.DROPPED


async def test_a_server_error_is_retried_then_named(fault_server: FaultServer) -> None:
    fault_server.set("status", status=503)
    with pytest.raises(LLMResponseError, match=r"model server failed \(503\).*injected failure"):
        await _answer(_client(fault_server, retries=1))
    assert len(fault_server.requests()) == 2, "one retry, then the error"


async def test_a_restarted_server_is_reached_again_by_the_same_client(
    fault_server: FaultServer,
) -> None:
    client = _client(fault_server, retries=2)
    first = await stream_answer(client, REQUEST, lambda _: None)
    fault_server.kill()
    with pytest.raises(LLMUnavailableError, match="not reachable"):
        await stream_answer(client, REQUEST, lambda _: None)
    fault_server.start()  # same port; the client's pooled connection is stale
    second = await stream_answer(client, REQUEST, lambda _: None)
    await client.close()
    assert first.text == second.text == DEFAULT_TEXT and second.incomplete is None
