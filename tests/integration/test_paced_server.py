"""The paced mode of the fault server that benchmarks/bench_overhead_gpu_speed.py uses."""

from __future__ import annotations

from assistant.llm import ChatRequest, OpenAIChatModel
from tests.faults.fixture import FaultServer


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
        action = ChatRequest(messages, max_tokens=64, json_schema={"type": "object"})
        assert await _collect(client, action) == ('{"tool": "answer"}', "stop")
    finally:
        await client.close()
        fault_server.set("normal")
