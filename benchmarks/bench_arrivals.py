"""How the arrival of twenty requests changes how long the model server takes for all of them.

The load bench (`bench_load.py`) compares twenty turns through the UI with twenty bare
requests sent at the same instant. Through the UI the requests leave when each turn is
ready. This replays the very requests twenty first turns send (recorded through the
service, as the load bench's bare side does) against the model server alone, on arrival
schedules measured through the UI, and times each round from its start to the last
answer's end:

- **at once**: all twenty at the start (the load bench's bare side);
- **together, late**: all twenty 0.42 s after the start (twenty turns sharing the event
  loop evenly: each request waits for nearly all the others' preparation);
- **one after another**: evenly from 0.07 to 0.45 s, and from 0.12 to 0.97 s (turns
  through the start gate, `assistant/starts.py`, on a quiet and on a loaded machine);
- **five early**: five at 0.15 s, fifteen at 0.5 s.

Schedules alternate within each round; each round has its own `cache_salt`, so no round
finds another's prompts in vLLM's prefix cache.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_arrivals.py --llm-url http://127.0.0.1:8123/v1
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from assistant.config import load_profile
from assistant.llm import ChatRequest, OpenAIChatModel
from assistant.service import Assistant
from benchmarks.bench_agent_overhead import bare
from benchmarks.bench_load import SESSIONS, Recording, answer_only, cold, service_round


def _even(first: float, last: float) -> list[float]:
    return [first + (last - first) * i / (SESSIONS - 1) for i in range(SESSIONS)]


SCHEDULES: dict[str, list[float]] = {
    "at once": [0.0] * SESSIONS,
    "together, 0.42 s late": [0.42] * SESSIONS,
    "one after another, 0.07–0.45 s": _even(0.07, 0.45),
    "one after another, 0.12–0.97 s": _even(0.12, 0.97),
    "five at 0.15 s, fifteen at 0.5 s": [0.15] * 5 + [0.5] * (SESSIONS - 5),
}
"""Seconds after a round's start at which each of the twenty requests is sent."""


async def _round(client: OpenAIChatModel, requests: list[ChatRequest], at: list[float]) -> float:
    salt = uuid.uuid4().hex[:8]

    async def one(delay: float, request: ChatRequest) -> None:
        await asyncio.sleep(delay)
        await bare(client, cold(request, salt))

    start = time.perf_counter()
    await asyncio.gather(*(one(d, r) for d, r in zip(at, requests, strict=True)))
    return time.perf_counter() - start


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--llm-url", required=True)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-arrivals-"))
    config = answer_only(args.model, folder / "data", args.llm_url)
    client = OpenAIChatModel(args.llm_url, load_profile(args.model).served_name)
    model = Recording(client, args.tokens)
    async with Assistant(config, model=model) as assistant:
        await service_round(assistant, folder, "warm")
        model.requests.clear()
        await service_round(assistant, folder, "recorded")
    requests = list(model.requests)
    if len(requests) != SESSIONS:
        raise RuntimeError(f"{len(requests)} requests recorded, not {SESSIONS}")
    took: dict[str, list[float]] = {name: [] for name in SCHEDULES}
    for _ in range(args.rounds):
        for name, at in SCHEDULES.items():
            took[name].append(await _round(client, requests, at))
    at_once = statistics.median(took["at once"])
    print(f"{SESSIONS} requests of {args.tokens} tokens, model {args.model}, "
          f"{args.rounds} rounds; start to last answer")  # fmt: skip
    print("| arrivals | each round (s) | median (s) | against at once |")
    print("|---|---|---|---|")
    for name, walls in took.items():
        med = statistics.median(walls)
        listed = ", ".join(f"{w:.2f}" for w in walls)
        print(f"| {name} | {listed} | {med:.2f} | {med / at_once:.3f} |")


if __name__ == "__main__":
    asyncio.run(main())
