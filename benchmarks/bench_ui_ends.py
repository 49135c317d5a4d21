"""The two ends of twenty turns at once through the UI, with a model that takes no CPU.

The load bench (`bench_load.py`) finds the UI's overhead over twenty bare vLLM calls almost
all before the last model request goes out and after the last answer has ended; on the
2-core machine its figures move with the model server and the host. Here the same twenty
browser-like sessions (the load bench's clients, in a process of their own: a first turn
uploading an image, then a follow-up) talk to an in-process model that records when each
request arrives, waits `--wait` seconds, then streams `--words` words `--gap` seconds apart.
So only the app is measured:

- **go → first / last request**: from the clients' start to the first and the last model
  request (the service alone takes 0.04–0.10 s for twenty, `bench_load.py`);
- **last answer → done**: from the last answer's end to the last client's done;
- **app CPU**: this process's CPU seconds a round (the server; the clients are elsewhere).

Medians over `--rounds` timed rounds after a warm-up round. `--cpus 1` runs everything on
one core (`os.sched_setaffinity`, inherited by the clients' process), as in the load bench,
where the model server's worker takes the other.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_ui_ends.py --rounds 4 --cpus 1

To compare two versions of the app, run it in a checkout of each, alternating.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from assistant.llm import ChatChunk, ChatRequest
from benchmarks.bench_load import TURNS, answer_only, ui_round
from tests.vllm_servers import free_port
from ui.app import UIServer, create_app
from ui.holder import AssistantHolder


@dataclass
class Waiting:
    """A model that waits, then streams: it records when requests arrive and answers end."""

    wait_s: float
    words: int
    gap_s: float
    asked: list[float] = field(default_factory=list)
    ended: list[float] = field(default_factory=list)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        self.asked.append(time.time())
        await asyncio.sleep(self.wait_s)
        for _ in range(self.words):
            yield ChatChunk(text=" word")
            await asyncio.sleep(self.gap_s)
        self.ended.append(time.time())
        yield ChatChunk(completion_tokens=self.words, finish_reason="stop")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--model", default="smollm2-135m", help="the profile, as in the load bench")
    parser.add_argument("--wait", type=float, default=1.0, help="seconds before the answer")
    parser.add_argument("--words", type=int, default=32)
    parser.add_argument("--gap", type=float, default=0.01, help="seconds between words")
    parser.add_argument("--cpus", type=int, default=0, help="run on this many cores (0: all)")
    args = parser.parse_args()
    if args.cpus:
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[-args.cpus :])
    folder = Path(tempfile.mkdtemp(prefix="bench-ui-ends-"))
    # The profile's prompt as in the load bench; the model itself is `Waiting`, in-process
    # (the URL is never called).
    config = answer_only(args.model, folder / "data", "http://127.0.0.1:9/v1")
    model = Waiting(args.wait, args.words, args.gap)
    holder = AssistantHolder(config, model=model)
    server = UIServer(create_app(config, holder), "127.0.0.1", free_port())
    server.start()
    rows: dict[str, list[tuple[float, float, float, float]]] = {t: [] for t in TURNS}
    try:
        ui_round(server.url, folder)  # warm-up
        for _ in range(args.rounds):
            model.asked.clear()
            model.ended.clear()
            for turn, result in zip(TURNS, ui_round(server.url, folder), strict=True):
                start, end = result.started, result.started + result.wall
                asked = [t - start for t in model.asked if start <= t <= end]
                ended = [t for t in model.ended if start <= t <= end]
                if len(asked) != len(ended):
                    raise RuntimeError(f"{len(asked)} requests but {len(ended)} answers")
                done = end - max(ended)
                rows[turn].append((min(asked), max(asked), done, result.cpu["app"]))
    finally:
        server.close()
    cores = f"{args.cpus} core(s)" if args.cpus else f"{os.cpu_count()} cores"
    print(f"20 sessions, {args.rounds} rounds, model waits {args.wait} s then streams "
          f"{args.words} words {args.gap} s apart; {cores}; medians")  # fmt: skip
    print("| turn | go → first request (ms) | go → last request (ms) "
          "| last answer → done (ms) | app CPU s a round |")  # fmt: skip
    print("|---|---|---|---|---|")
    for turn, got in rows.items():
        first, last, done, cpu = (statistics.median(x[k] for x in got) for k in range(4))
        print(f"| {turn} | {first * 1000:.0f} | {last * 1000:.0f} | {done * 1000:.0f} "
              f"| {cpu:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
