"""The paced mode of the fault server that benchmarks/bench_overhead_gpu_speed.py uses."""

from __future__ import annotations

from assistant.actions import action_schema, parse_action
from assistant.catalog import TOOLS
from assistant.llm import ChatRequest, OpenAIChatModel
from tests.faults.fixture import FaultServer
from tools.narrowing import Scope


async def _collect(client: OpenAIChatModel, request: ChatRequest) -> tuple[str, str | None]:
    text, finish = "", None
    async for chunk in client.stream(request):
        text += chunk.text
        finish = chunk.finish_reason or finish
    return text, finish


async def test_it_streams_the_whole_answer_and_a_valid_action(fault_server: FaultServer) -> None:
    answer = " ".join(f"w{i}" for i in range(12))
    fault_server.set("normal", text=answer, delay_s=0.001, first_s=0.01)
    client = OpenAIChatModel(fault_server.url, "fault")
    try:
        messages = [{"role": "user", "content": "hi"}]
        assert await _collect(client, ChatRequest(messages, max_tokens=64)) == (answer, "stop")
        schema = action_schema(TOOLS, Scope(()))  # what the agent's decide step sends
        text, finish = await _collect(client, ChatRequest(messages, 64, json_schema=schema))
        assert finish == "stop"
        assert parse_action(text) is None  # the agent reads it as "answer"
        sent = fault_server.requests()[-1]
        assert sent["response_format"]["json_schema"]["schema"] == schema
    finally:
        await client.close()
        fault_server.set("normal")
