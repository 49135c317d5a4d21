"""Twenty sessions at once, through the service and through the UI's HTTP endpoints, against
twenty bare concurrent vLLM calls with the same messages and token budget.

Each session uploads a small image and asks a question (through the UI, from a process of
its own, as browsers are not in the server's process); its turn is one answer call
(`max_steps=0`), generating exactly --tokens tokens (`ignore_eos`). Through the UI, each
session then asks a follow-up in the same session (text only), timed as a turn of its own.
The bare side sends the very requests the agent sent, all at once, to the same server;
rounds alternate bare and agent so that both see the same machine. Afterwards every
session's stored history is checked: question and answer, nothing lost.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_load.py --llm-url http://127.0.0.1:8000/v1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.messages import AIMessage, HumanMessage
from PIL import Image

from assistant.config import AppConfig, UISettings, load_config, load_profile
from assistant.llm import ChatRequest, OpenAIChatModel
from assistant.service import Assistant
from benchmarks.bench_agent_overhead import FixedLength, bare
from tests.vllm_servers import free_port
from ui.app import UIServer, create_app
from ui.holder import AssistantHolder

SESSIONS = 20
QUESTION = "Session {i}: describe what a radiologist checks first on this image."
FOLLOW_UP_MARK = "and next"
FOLLOW_UP = "Session {i}, and next: what would you compare it with?"
TURNS = ("first turn, with an image", "follow-up, text only")


def image(folder: Path, i: int) -> Path:
    path = folder / f"case-{i:02d}.png"
    Image.fromarray(np.full((64, 64), (7 * i) % 250, np.uint8)).save(path)
    return path


@dataclass
class Recording(FixedLength):
    """FixedLength that keeps every answer request (one per session)."""

    requests: list[ChatRequest] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)
    """When each answer request went to the model server (`time.time()`)."""

    async def stream(self, request: ChatRequest):  # type: ignore[no-untyped-def, override]
        # Each call's own request, as FixedLength sends it (not `self.last`, which twenty
        # concurrent turns overwrite: the bare side would then replay copies of one prompt,
        # which vLLM's prefix cache makes cheaper than twenty different ones).
        if request.json_schema is None:
            sent = replace(request, max_tokens=self.tokens, extra_body={"ignore_eos": True})
            self.requests.append(sent)
            self.sent_at.append(time.time())
        async for chunk in super().stream(request):
            yield chunk


def cold(request: ChatRequest, nonce: str) -> ChatRequest:
    """The same request under vLLM's `cache_salt`, so its prefix cache cannot serve it.

    The agent's requests of a round arrive together and find nothing cached; replayed as
    they are right after, they would find their whole prompts cached (measured: 2560 of
    3566 prompt tokens) and the bare side would skip most of its prefill. The salt keeps
    the messages, and so the prompt tokens, exactly the agent's (a nonce written into the
    text, as before, made every bare prompt longer than the one it replays).
    """
    return replace(request, extra_body={**(request.extra_body or {}), "cache_salt": nonce})


async def bare_round(
    client: OpenAIChatModel, requests: list[ChatRequest], nonce: str | None = None
) -> float:
    """The requests all at once, behind one `nonce` (new unless given: a follow-up's bare
    round reuses its first turn's, so both sides find the same earlier turn in the prefix
    cache). One salt for all, as the agent's requests of a round share one cache: a salt
    per request kept each bare prompt from the others' cached system prompt."""
    salt = nonce or uuid.uuid4().hex[:8]
    sent = [cold(r, salt) for r in requests]
    start = time.perf_counter()
    await asyncio.gather(*(bare(client, r) for r in sent))
    return time.perf_counter() - start


async def service_round(assistant: Assistant, folder: Path, tag: str) -> tuple[float, list[str]]:
    """Twenty turns at once; each session's image is uploaded before the timer starts."""
    sessions = [assistant.new_session().id for _ in range(SESSIONS)]
    ids = [
        (await assistant.aadd_upload(s, image(folder, i), f"{tag}-{i}.png")).id
        for i, s in enumerate(sessions)
    ]

    async def one(i: int, session: str) -> None:
        async for _ in assistant.run_turn(session, QUESTION.format(i=i), [ids[i]]):
            pass

    start = time.perf_counter()
    await asyncio.gather(*(one(i, s) for i, s in enumerate(sessions)))
    return time.perf_counter() - start, sessions


def _ui_clients(
    kind: str,
    url: str,
    folder: str,
    nice: bool,
    page_events: bool,
    ready: Any,
    gos: list[Any],
    out: Any,
) -> None:
    """In a process of its own (browsers are not in the server's process): open twenty
    sessions, then for each turn of `TURNS` wait for its start, send twenty messages at
    once and report how it went (a dict on `out`).

    The first turn uploads each session's image with its question; the follow-up asks
    again in the same session, text only, with the chat as shown.

    `kind` "http": each session is a `BrowserTab`, which makes a browser tab's requests
    (its load events when it opens, upload, join the queue, the event stream, the change
    events the page fires as outputs arrive, each file the chat shows fetched once as it
    is first shown, as the page's `<img>` loads it).
    `kind` "gradio_client": Gradio's Python client, one per session, with
    `download_files=False` (its default re-downloads each file the chat shows on every
    streamed update, which no browser does), the shown files then fetched once; it fires
    none of the page's own events.
    """
    if nice:
        os.nice(19)  # browsers are on other machines: give the server's processes the CPU
    if kind == "http":
        _http_sessions(url, Path(folder), page_events, ready, gos, out)
    else:
        _gradio_client_sessions(url, Path(folder), ready, gos, out)


def _message(i: int, turn: int, files: list[Any]) -> dict[str, Any]:
    text = (QUESTION if turn == 0 else FOLLOW_UP).format(i=i)
    return {"text": text, "files": files if turn == 0 else []}


def _http_sessions(
    url: str, folder: Path, page_events: bool, ready: Any, gos: list[Any], out: Any
) -> None:
    from benchmarks.gradio_http import BrowserTab

    async def run() -> None:
        tabs = [BrowserTab(url, page_events) for _ in range(SESSIONS)]
        await asyncio.gather(*(t.open() for t in tabs))
        chats: list[Any] = [[] for _ in range(SESSIONS)]

        async def one(i: int, turn: int) -> int:
            tab = tabs[i]
            files = [await tab.upload(image(folder, i))] if turn == 0 else []
            # The inputs as the page sends them: the box, the chat, the session (a State,
            # kept on the server), the tool choice and the drawn region.
            fetched = len(tab.fetched)
            outputs = await tab.call("/send", _message(i, turn, files), chats[i], None, "auto", "")
            chats[i] = outputs[1]
            # The events the page fires as the turn's outputs arrive (the panels following
            # the new session and image, the image loading) are part of the turn.
            await tab.settle()
            return len(tab.fetched) - fetched

        ready.set()
        for turn, go in enumerate(gos):
            go.wait()
            events = sum(t.events_run for t in tabs)
            start, cpu, started = time.perf_counter(), time.process_time(), time.time()
            fetched = await asyncio.gather(*(one(i, turn) for i in range(SESSIONS)))
            out.put({"started": started, "wall": time.perf_counter() - start,
                     "fetched": sum(fetched), "client_cpu": time.process_time() - cpu,
                     "events": sum(t.events_run for t in tabs) - events})  # fmt: skip
        await asyncio.gather(*(t.close() for t in tabs))
        failed = [f for t in tabs for f in t.failures]
        if failed:
            raise RuntimeError(f"events the page fired failed: {failed[:3]}")

    asyncio.run(run())


def _gradio_client_sessions(url: str, folder: Path, ready: Any, gos: list[Any], out: Any) -> None:
    import httpx
    from gradio_client import Client, handle_file

    from benchmarks.gradio_http import shown_files

    with ThreadPoolExecutor(SESSIONS) as pool:
        clients = list(
            pool.map(lambda _: Client(url, verbose=False, download_files=False), range(SESSIONS))
        )
    chats: list[Any] = [[] for _ in range(SESSIONS)]

    def one(i: int, turn: int) -> int:
        files = [handle_file(str(image(folder, i)))] if turn == 0 else []
        result = clients[i].predict(
            _message(i, turn, files), chats[i], "auto", "", api_name="/send"
        )
        chats[i] = result[1]
        shown = shown_files(url, result) if turn == 0 else set()
        with httpx.Client(timeout=60) as http:
            for file_url in shown:
                http.get(file_url).raise_for_status()
        return len(shown)

    ready.set()
    for turn, go in enumerate(gos):
        go.wait()
        start, cpu, started = time.perf_counter(), time.process_time(), time.time()
        with ThreadPoolExecutor(SESSIONS) as pool:
            fetched = list(pool.map(one, range(SESSIONS), [turn] * SESSIONS))
        out.put({"started": started, "wall": time.perf_counter() - start,
                 "fetched": sum(fetched), "client_cpu": time.process_time() - cpu,
                 "events": SESSIONS})  # fmt: skip


def machine_cpu_s() -> float:
    """CPU seconds all processes of the machine have used (user + system, from /proc/stat)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system = (int(x) for x in fields[:3])
    return (user + nice + system) / os.sysconf("SC_CLK_TCK")


@dataclass
class TurnResult:
    """One turn of twenty sessions through the UI."""

    started: float
    """When the clients started it (`time.time()`)."""
    wall: float
    cpu: dict[str, float]
    """CPU seconds meanwhile: the client process, this (the app's) process, the rest."""
    events: int
    """Events the sessions ran (with a browser-like tab, the page's own included)."""


def ui_round(
    url: str, folder: Path, kind: str = "http", nice: bool = False, page_events: bool = True
) -> list[TurnResult]:
    """Twenty sessions from another process (`_ui_clients`), each turn of `TURNS` started
    at once once the sessions are open; a first turn's image upload is part of its time."""
    ctx = multiprocessing.get_context("spawn")
    ready, out = ctx.Event(), ctx.Queue()
    gos = [ctx.Event() for _ in TURNS]
    args = (kind, url, str(folder), nice, page_events, ready, gos, out)
    worker = ctx.Process(target=_ui_clients, args=args)
    worker.start()
    results: list[TurnResult] = []
    try:
        deadline = time.monotonic() + 300
        while not ready.wait(0.5):
            if not worker.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the client process did not get ready")
        for turn, go in enumerate(gos):
            app_cpu, all_cpu = time.process_time(), machine_cpu_s()
            go.set()
            got = out.get(timeout=900)
            app_cpu, all_cpu = time.process_time() - app_cpu, machine_cpu_s() - all_cpu
            if turn == 0 and got["fetched"] < SESSIONS:  # every chat shows its image
                raise RuntimeError(f"the clients fetched {got['fetched']} shown files")
            client = got["client_cpu"]
            cpu = {"clients": client, "app": app_cpu, "rest": all_cpu - client - app_cpu}
            results.append(TurnResult(got["started"], got["wall"], cpu, got["events"]))
        return results
    finally:
        worker.join(30)


def answer_only(model: str, data_dir: Path, llm_url: str) -> AppConfig:
    """The app's configuration for these benchmarks: each turn is one answer call
    (`agent.max_steps` 0), like the bare side's one request."""
    return load_config(
        {
            "model": model,
            "data_dir": str(data_dir),
            "llm": {"base_url": llm_url},
            "agent": {"max_steps": 0},
        }
    )


def turn_of(request: ChatRequest) -> str:
    """Which of `TURNS` an answer request belongs to (by the follow-up's own words)."""
    return TURNS[1] if FOLLOW_UP_MARK in json.dumps(request.messages) else TURNS[0]


async def complete(assistant: Assistant) -> tuple[int, int]:
    """(sessions, sessions whose stored history has the question and then an answer)."""
    whole = 0
    listed = assistant.sessions.list(limit=10_000)
    for info in listed:
        history = await assistant.history(info.id)
        kinds = [type(m) for m in history if isinstance(m, HumanMessage | AIMessage)]
        whole += kinds[:1] == [HumanMessage] and kinds[-1:] == [AIMessage]
    return len(listed), whole


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--llm-url", required=True)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--no-page-events",
        action="store_true",
        help="the browser-like clients do not run the events the page fires as outputs "
        "change (the panels following the session, the quick actions drawn): a diagnostic "
        "of what those events cost, not a person's turn",
    )
    parser.add_argument(
        "--nice-clients",
        action="store_true",
        help="run the UI's clients at the lowest CPU priority (browsers are on other machines)",
    )
    parser.add_argument(
        "--stream-updates-per-s",
        type=float,
        nargs="+",
        default=[UISettings().stream_updates_per_s],
        help="the UI's ui.stream_updates_per_s; several values are measured side by side, "
        "each on a UI server of its own, rounds alternating (1000 gives every chat its "
        "10 updates a second, as before the shared budget)",
    )
    parser.add_argument(
        "--clients",
        nargs="+",
        choices=["http", "gradio_client"],
        default=["http"],
        help="how the UI's sessions talk to it: 'http' makes a browser tab's requests "
        "(benchmarks/gradio_http.py), 'gradio_client' is Gradio's Python client; several "
        "are measured side by side",
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-load-"))
    config = answer_only(args.model, folder / "data", args.llm_url)
    client = OpenAIChatModel(args.llm_url, load_profile(args.model).served_name)
    model = Recording(client, args.tokens)
    plain: list[float] = []
    served: list[float] = []
    async with Assistant(config, model=model) as assistant:
        await service_round(assistant, folder, "warm")
        for r in range(args.rounds):
            model.requests.clear()
            took, _ = await service_round(assistant, folder, f"r{r}")
            served.append(took)
            plain.append(await bare_round(client, list(model.requests)))
        service_sessions, service_whole = await complete(assistant)
    sides = [
        UISide(rate, kind, folder / f"ui-{kind}-{rate:g}", config, args)
        for kind in args.clients
        for rate in args.stream_updates_per_s
    ]
    # One UI server at a time (several in one process slow each other down: measured 1.21x
    # against 1.07x alone): each side's server starts, takes a warm-up round and a timed
    # round, and stops; then its bare round; the sides alternate.
    for _ in range(args.rounds):
        for side in sides:
            await side.round(client, args.nice_clients)
    med = statistics.median
    print(f"{SESSIONS} concurrent sessions; {args.tokens} tokens per answer; model {args.model}")
    # Each round's ratio is taken against the bare round run right after it, on the same
    # machine minutes apart: the median of those follows the app, where the ratio of the
    # medians also follows the machine's drift between rounds (measured: bare medians of
    # the same requests 7.1 to 8.4 s over one evening).
    print("| path | median wall s | bare median s | ratio | each round against its bare round "
          "(median) | CPU s per round: clients / app / model and rest | events | first, last "
          "model request after the start (s) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    print(f"| service (Assistant.run_turn) | {med(served):.2f} | {med(plain):.2f} | "
          f"{med(served) / med(plain):.3f} | {paired(served, plain)} | | | |")  # fmt: skip
    for side in sides:
        for turn in TURNS:
            done, bare = side.turns[turn], side.bare[turn]
            wall = med(t.wall for t in done)
            cpu = " / ".join(
                f"{med(t.cpu[k] for t in done):.1f}" for k in ("clients", "app", "rest")
            )
            first, last = (med(x[k] for x in side.sent[turn]) for k in (0, 1))
            sent = f"{first:.2f}, {last:.2f}"
            rounds = paired([t.wall for t in done], bare)
            print(f"| UI HTTP, {side.kind} sessions, ui.stream_updates_per_s {side.rate:g}, "
                  f"{turn} | {wall:.2f} | {med(bare):.2f} | {wall / med(bare):.3f} | {rounds} | "
                  f"{cpu} | {med(t.events for t in done):.0f} | {sent} |")  # fmt: skip
    print(f"service sessions stored: {service_sessions}, whole: {service_whole}")
    stored = [side.stored for side in sides]
    print(f"UI sessions stored: {stored} (expected {2 * SESSIONS * args.rounds} each)")


def paired(walls: list[float], bare: list[float]) -> str:
    """Each round's wall against its own bare round, and the median of those ratios."""
    ratios = [w / b for w, b in zip(walls, bare, strict=True)]
    listed = ", ".join(f"{r:.3f}" for r in ratios)
    return f"{listed} ({statistics.median(ratios):.3f})"


@dataclass
class UISide:
    """One kind of UI session and update budget; its own data folder, kept across rounds."""

    rate: float
    kind: str
    folder: Path
    base: AppConfig
    args: argparse.Namespace
    turns: dict[str, list[TurnResult]] = field(default_factory=lambda: {t: [] for t in TURNS})
    bare: dict[str, list[float]] = field(default_factory=lambda: {t: [] for t in TURNS})
    sent: dict[str, list[tuple[float, float]]] = field(
        default_factory=lambda: {t: [] for t in TURNS}
    )
    """Seconds from the start of a turn to its first and its last answer request."""
    stored: int = 0

    def serve(self) -> tuple[Recording, AssistantHolder, UIServer]:
        """A UI server of this side's settings on its folder, started."""
        self.folder.mkdir(exist_ok=True)
        ui = self.base.ui.model_copy(update={"stream_updates_per_s": self.rate})
        config = self.base.model_copy(update={"data_dir": self.folder / "data", "ui": ui})
        # Its own client: the UI server runs on its own event loop, and an HTTP connection
        # pool belongs to the loop that first used it.
        served = load_profile(self.args.model).served_name
        model = Recording(OpenAIChatModel(self.args.llm_url, served), self.args.tokens)
        holder = AssistantHolder(config, model=model)
        server = UIServer(create_app(config, holder), "127.0.0.1", free_port())
        server.start()
        return model, holder, server

    async def round(self, client: OpenAIChatModel, nice: bool) -> None:
        """Start the server, a warm-up round, a timed round, stop; then the bare rounds."""
        model, holder, server = self.serve()
        try:
            events = not self.args.no_page_events
            ui_round(server.url, self.folder, self.kind, nice, events)  # warm-up
            model.requests.clear()
            model.sent_at.clear()
            results = ui_round(server.url, self.folder, self.kind, nice, events)
            self.stored = len(holder.current.sessions.list(limit=10_000))
        finally:
            server.close()
        nonce = uuid.uuid4().hex[:8]
        for turn, result in zip(TURNS, results, strict=True):
            mine = [(r, at) for r, at in zip(model.requests, model.sent_at, strict=True)
                    if turn_of(r) == turn]  # fmt: skip
            if len(mine) != SESSIONS:
                raise RuntimeError(f"{len(mine)} answer requests in the {turn}, not {SESSIONS}")
            at = [a for _, a in mine]
            self.sent[turn].append((min(at) - result.started, max(at) - result.started))
            self.turns[turn].append(result)
            self.bare[turn].append(await bare_round(client, [r for r, _ in mine], nonce))


if __name__ == "__main__":
    asyncio.run(main())
