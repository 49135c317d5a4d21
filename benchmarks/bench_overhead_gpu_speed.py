"""The agent's own overhead per step when the model streams at GPU speed.

On the CPU server the model's ~11 tokens/s hide the agent's cost (issue 2: 1.007-1.028x).
Here the model server is an OpenAI-compatible process that streams like a GPU server:
the first token after --first-ms, then --tokens-per-s (tests/faults/server.py, normal
mode, a fixed answer of --tokens words; an action request gets a valid action). The
session holds a long history (--history messages) and an attached image, and the profile
is a vision one, so every answer request carries the history and the image as base64.

Each round runs one agent turn (the constrained action step, then the answer), records
the very requests the agent sent, and replays them bare, one after the other, against
the same server: A B A B ... Both sides must stream the same text (the same tokens), or
the run stops. The agent's overhead per step is (agent - bare) / steps.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_overhead_gpu_speed.py --rounds 30
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from assistant.config import load_config, load_profile
from assistant.llm import ChatChunk, ChatRequest, OpenAIChatModel
from assistant.service import Assistant
from tests.faults.fixture import FaultServer


@dataclass
class Recording:
    """Passes requests to the real client; keeps those of the current turn and their text."""

    inner: OpenAIChatModel
    requests: list[ChatRequest] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        self.requests.append(request)
        self.texts.append("")
        async for chunk in self.inner.stream(request):
            self.texts[-1] += chunk.text
            yield chunk


async def bare(client: OpenAIChatModel, requests: list[ChatRequest]) -> tuple[float, list[str]]:
    """Send `requests` one after the other; the seconds taken and each streamed text."""
    texts = []
    start = time.perf_counter()
    for request in requests:
        text = ""
        async for chunk in client.stream(request):
            text += chunk.text
        texts.append(text)
    return time.perf_counter() - start, texts


async def agent(assistant: Assistant, session: str, text: str, image_id: str) -> float:
    start = time.perf_counter()
    async for _ in assistant.run_turn(session, text, [image_id]):
        pass
    return time.perf_counter() - start


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--tokens", type=int, default=64, help="words in each answer")
    parser.add_argument("--tokens-per-s", type=float, default=50.0)
    parser.add_argument("--first-ms", type=float, default=50.0)
    parser.add_argument("--history", type=int, default=40, help="messages before the turn")
    parser.add_argument("--model", default="tiny-llava", help="profile (its request shape)")
    args = parser.parse_args()
    server = FaultServer()
    server.start()
    answer = " ".join(f"w{i}" for i in range(args.tokens))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = load_config(
                {"model": args.model, "data_dir": tmp, "llm": {"base_url": server.url}}
            )
            client = OpenAIChatModel(server.url, load_profile(args.model).served_name)
            model = Recording(client)
            picture = Path(tmp) / "chest.png"
            pixels = np.random.default_rng(0).integers(0, 255, (1024, 1024), np.uint8)
            Image.fromarray(pixels).save(picture)
            agent_s: list[float] = []
            bare_s: list[float] = []
            steps: list[int] = []
            async with Assistant(config, model=model) as assistant:
                session = assistant.new_session().id
                image = (await assistant.aadd_upload(session, picture, "chest.png")).id
                server.set("normal", text="Earlier answer.", delay_s=0.0)
                for i in range(args.history // 2):  # the long history, built fast
                    async for _ in assistant.run_turn(session, f"Earlier question {i}?"):
                        pass
                server.set(
                    "normal", text=answer, delay_s=1 / args.tokens_per_s,
                    first_s=args.first_ms / 1000,
                )  # fmt: skip
                await agent(assistant, session, "Warm-up question?", image)
                for i in range(args.rounds):
                    model.requests.clear()
                    model.texts.clear()
                    agent_s.append(await agent(assistant, session, f"Question {i}?", image))
                    sent = list(model.requests)
                    steps.append(len(sent))
                    seconds, texts = await bare(client, sent)
                    if texts != model.texts:  # both sides must stream the same tokens
                        raise RuntimeError(f"bare got {texts!r}, the agent {model.texts!r}")
                    bare_s.append(seconds)
                history = len(await assistant.history(session))
            sizes = [len(str(r.messages)) for r in sent]
    finally:
        server.kill()
    med = statistics.median
    per_step = [(a - b) * 1000 / n for a, b, n in zip(agent_s, bare_s, steps, strict=True)]
    ratios = [a / b for a, b in zip(agent_s, bare_s, strict=True)]
    q = statistics.quantiles
    print(
        f"model server: first token {args.first_ms:.0f} ms, {args.tokens_per_s:.0f} tokens/s, "
        f"{args.tokens} tokens per answer; profile {args.model}; {args.rounds} rounds; "
        f"history {history} messages at the end; {steps[-1]} model calls per turn; "
        f"request sizes {sizes} characters (image as base64)"
    )
    print("| | median | p10 | p90 |")
    print("|---|---|---|---|")
    print(f"| bare replay s | {med(bare_s):.3f} | {q(bare_s, n=10)[0]:.3f} | "
          f"{q(bare_s, n=10)[-1]:.3f} |")  # fmt: skip
    print(f"| agent turn s | {med(agent_s):.3f} | {q(agent_s, n=10)[0]:.3f} | "
          f"{q(agent_s, n=10)[-1]:.3f} |")  # fmt: skip
    print(f"| agent overhead ms per step | {med(per_step):.1f} | {q(per_step, n=10)[0]:.1f} | "
          f"{q(per_step, n=10)[-1]:.1f} |")  # fmt: skip
    print(f"| ratio agent / bare | {med(ratios):.3f} | {q(ratios, n=10)[0]:.3f} | "
          f"{q(ratios, n=10)[-1]:.3f} |")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
