"""Per-turn overhead of the agent against a bare vLLM call with the same prompt and tokens.

Both sides stream from the same real server, interleaved, with `ignore_eos` so every
call generates exactly --tokens tokens. "agent (answer only)" is a whole turn through the
graph (checkpointing, prompt building, event streaming) whose model work is one answer
call, sent with the very messages the bare call sends. "agent (decide + answer)" adds the
grammar-constrained action step that constrained-mode models take first.

    .venv/bin/python benchmarks/bench_agent_overhead.py --llm-url http://127.0.0.1:8000/v1
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

from assistant.config import load_config, load_profile
from assistant.llm import ChatChunk, ChatModel, ChatRequest, OpenAIChatModel
from assistant.service import Assistant


@dataclass
class FixedLength:
    """Makes every request generate exactly `tokens` tokens and remembers the last one."""

    inner: ChatModel
    tokens: int
    last: ChatRequest | None = None

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        if request.json_schema is None:
            request = replace(request, max_tokens=self.tokens, extra_body={"ignore_eos": True})
        self.last = request
        async for chunk in self.inner.stream(request):
            yield chunk


async def bare(client: OpenAIChatModel, request: ChatRequest) -> float:
    start = time.perf_counter()
    async for _ in client.stream(request):
        pass
    return time.perf_counter() - start


async def agent_turn(assistant: Assistant, text: str, max_steps: int | None = None) -> float:
    session = assistant.new_session().id
    start = time.perf_counter()
    async for _ in assistant.run_turn(session, text, max_steps=max_steps):
        pass
    return time.perf_counter() - start


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--llm-url", required=True)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    text = "Summarise the ABCDE approach to reading a chest radiograph."
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(
            {"model": args.model, "data_dir": tmp, "llm": {"base_url": args.llm_url}}
        )
        client = OpenAIChatModel(args.llm_url, load_profile(args.model).served_name)
        model = FixedLength(client, args.tokens)
        answer_only: list[float] = []
        full: list[float] = []
        plain: list[float] = []
        async with Assistant(config, model=model) as assistant:
            await agent_turn(assistant, text)  # warm-up
            for _ in range(args.rounds):
                answer_only.append(await agent_turn(assistant, text, max_steps=0))
                assert model.last is not None
                plain.append(await bare(client, model.last))
                full.append(await agent_turn(assistant, text))
    med = statistics.median
    print(f"tokens per answer: {args.tokens}; rounds: {args.rounds}; model: {args.model}")
    print(f"bare vLLM call            median {med(plain):.3f} s")
    ratio = med(answer_only) / med(plain)
    print(f"agent (answer only)       median {med(answer_only):.3f} s  ratio {ratio:.3f}")
    print(f"agent (decide + answer)   median {med(full):.3f} s  ratio {med(full) / med(plain):.3f}")


if __name__ == "__main__":
    asyncio.run(main())
