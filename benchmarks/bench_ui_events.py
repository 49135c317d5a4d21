"""CPU per UI event: what one chat turn, and each event the page fires after a first turn,
costs the app, against a turn through the service alone.

The model answers at once (in-process, one word), so what is measured is the app: Gradio's
queue and HTTP, the chat handler, the graph and its checkpoints, the panels. One browser-like
tab (benchmarks/gradio_http.py) runs the events one after another; the CPU of this process
(the server's thread and the tab's client together) is divided by the number of events.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_ui_events.py --repeat 40
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from assistant.config import AppConfig, load_config
from assistant.llm import ChatChunk, ChatRequest
from assistant.service import Assistant
from benchmarks.bench_load import image
from benchmarks.gradio_http import BrowserTab
from tests.vllm_servers import free_port
from ui.app import UIServer, create_app
from ui.holder import AssistantHolder

STREAMED = "(streamed)"
"""A question with this mark is answered in `WORDS` words, `GAP_S` apart."""
WORDS, GAP_S = 32, 0.02


class Instant:
    """A model server that answers every request at once (or streams a short answer)."""

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        if STREAMED not in str(request.messages[-1]):
            yield ChatChunk(text="Fine.")
            yield ChatChunk(completion_tokens=1, finish_reason="stop")
            return
        for _ in range(WORDS):  # the chat updates several times (`ui.pacing`)
            yield ChatChunk(text=" word")
            await asyncio.sleep(GAP_S)
        yield ChatChunk(completion_tokens=WORDS, finish_reason="stop")


async def cpu_ms(repeat: int, one: Callable[[int], Awaitable[Any]]) -> float:
    """This process's CPU milliseconds per call of `one`."""
    await one(-1)  # warm
    start = time.process_time()
    for i in range(repeat):
        await one(i)
    return (time.process_time() - start) / repeat * 1000


async def service_turns(config: AppConfig, repeat: int) -> float:
    async with Assistant(config, model=Instant()) as assistant:

        async def turn(i: int) -> None:
            async for _ in assistant.run_turn(assistant.new_session().id, f"Question {i}?"):
                pass

        return await cpu_ms(repeat, turn)


async def ui_events(url: str, folder: Path, repeat: int) -> dict[str, float]:
    quiet = BrowserTab(url, page_events=False)  # the turn alone, not the panels following
    await quiet.open()

    async def text_turn(i: int) -> None:  # a new session each time: no history to grow
        await quiet.call("/send", {"text": f"Question {i}?", "files": []}, [], None, "auto", "")

    results = {"chat turn, text only, new session": await cpu_ms(repeat, text_turn)}
    name = (
        f"follow-up, text only, in a chat showing a picture; {WORDS} words streamed over "
        f"{WORDS * GAP_S:.2f} s"
    )
    results[name] = await follow_up_cpu_ms(quiet, folder, repeat)
    await quiet.close()
    tab = BrowserTab(url)
    await tab.open()
    upload = await tab.upload(image(folder, 1))
    await tab.call("/send", {"text": "What is this?", "files": [upload]}, [], None, "auto", "")
    await tab.settle()  # the page's own events after a first turn with an image ran once
    for name in ("follow_session", "apply"):

        async def again(_: int, name: str = name) -> None:
            await tab.call(name)  # with the values the page holds, as it fires it

        results[f"page event `{name}`"] = await cpu_ms(repeat, again)
    await tab.close()
    return results


async def follow_up_cpu_ms(tab: BrowserTab, folder: Path, repeat: int) -> float:
    """CPU per follow-up in a session whose first turn showed an uploaded picture (each
    a new session, its first turn not counted): the chat re-sent on each update holds it."""
    total = 0.0
    for i in range(-1, repeat):  # the first is a warm-up
        upload = await tab.upload(image(folder, i % 250))
        first = {"text": "What is this?", "files": [upload]}
        _, chat, session, *_ = await tab.call("/send", first, [], None, "auto", "")
        start = time.process_time()
        follow_up = {"text": f"And then? {STREAMED}", "files": []}
        await tab.call("/send", follow_up, chat, session, "auto", "")
        total += time.process_time() - start if i >= 0 else 0.0
    return total / repeat * 1000


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=40)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-ui-events-"))
    config = load_config({"data_dir": str(folder / "data"), "agent": {"max_steps": 0}})
    service = await service_turns(
        config.model_copy(update={"data_dir": folder / "svc"}), args.repeat
    )
    holder = AssistantHolder(config, model=Instant())
    server = UIServer(create_app(config, holder), "127.0.0.1", free_port())
    server.start()
    try:
        ui = await ui_events(server.url, folder, args.repeat)
    finally:
        server.close()
    print("| event | app CPU ms per event (server and tab client) |")
    print("|---|---|")
    print(f"| turn through the service (Assistant.run_turn), new session | {service:.1f} |")
    for name, ms in ui.items():
        print(f"| {name} | {ms:.1f} |")


if __name__ == "__main__":
    asyncio.run(main())
