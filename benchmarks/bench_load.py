"""Twenty sessions at once, through the service and through the UI's HTTP endpoints, against
twenty bare concurrent vLLM calls with the same messages and token budget.

Each session uploads a small image and asks a question (through the UI, from a process of
its own, as browsers are not in the server's process); its turn is one answer call
(`max_steps=0`), generating exactly --tokens tokens (`ignore_eos`). The bare side sends the
very requests the agent sent, all at once, to the same server; rounds alternate bare and
agent so that both see the same machine. Afterwards every session's stored history is
checked: question and answer, nothing lost.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_load.py --llm-url http://127.0.0.1:8000/v1
"""

from __future__ import annotations

import argparse
import asyncio
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

from assistant.config import load_config, load_profile
from assistant.llm import ChatRequest, OpenAIChatModel
from assistant.service import Assistant
from benchmarks.bench_agent_overhead import FixedLength, bare
from tests.vllm_servers import free_port
from ui.app import UIServer, create_app
from ui.holder import AssistantHolder

SESSIONS = 20
QUESTION = "Session {i}: describe what a radiologist checks first on this image."


def image(folder: Path, i: int) -> Path:
    path = folder / f"case-{i:02d}.png"
    Image.fromarray(np.full((64, 64), (7 * i) % 250, np.uint8)).save(path)
    return path


@dataclass
class Recording(FixedLength):
    """FixedLength that keeps every answer request (one per session)."""

    requests: list[ChatRequest] = field(default_factory=list)

    async def stream(self, request: ChatRequest):  # type: ignore[no-untyped-def, override]
        # Each call's own request, as FixedLength sends it (not `self.last`, which twenty
        # concurrent turns overwrite: the bare side would then replay copies of one prompt,
        # which vLLM's prefix cache makes cheaper than twenty different ones).
        if request.json_schema is None:
            sent = replace(request, max_tokens=self.tokens, extra_body={"ignore_eos": True})
            self.requests.append(sent)
        async for chunk in super().stream(request):
            yield chunk


def cold(request: ChatRequest, nonce: str) -> ChatRequest:
    """The same request with a few tokens in front, so vLLM's prefix cache cannot serve it.

    The agent's requests of a round arrive together and find nothing cached; replayed as
    they are right after, they would find their whole prompts cached (measured: 2560 of
    3566 prompt tokens) and the bare side would skip most of its prefill.
    """
    first, *rest = request.messages
    content = first.get("content")
    if isinstance(content, str):
        first = {**first, "content": f"[{nonce}] {content}"}
    return replace(request, messages=[first, *rest])


async def bare_round(client: OpenAIChatModel, requests: list[ChatRequest]) -> float:
    nonce = uuid.uuid4().hex[:8]
    sent = [cold(r, nonce) for r in requests]
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


def _fetch_shown_files(url: str, chat: Any) -> int:
    """GET each file the final chat shows, once, as a browser renders it; how many."""
    import httpx

    paths: set[str] = set()

    def walk(x: Any) -> None:
        if isinstance(x, dict):
            if isinstance(x.get("path"), str) and "url" in x:  # a FileData
                paths.add(x["url"] or f"{url}gradio_api/file={x['path']}")
            for v in x.values():
                walk(v)
        elif isinstance(x, list | tuple):
            for v in x:
                walk(v)
        elif hasattr(x, "__dict__"):
            walk(vars(x))

    walk(chat)
    with httpx.Client(timeout=60) as http:
        for path in paths:
            http.get(path).raise_for_status()
    return len(paths)


def _ui_clients(url: str, folder: str, nice: bool, ready: Any, go: Any, out: Any) -> None:
    """In a process of its own (browsers are not in the server's process): build twenty
    clients (each fetches the app's config), wait for the start, send twenty messages at
    once, each with its image, and report the wall time.

    Clients do not download the chat's files with every streamed update (gradio_client's
    default re-downloads each file the chat shows on each update, which no browser does);
    each file the final chat shows is fetched once instead, as a browser renders it.
    """
    from gradio_client import Client, handle_file

    if nice:
        os.nice(19)  # browsers are on other machines: give the server's processes the CPU
    with ThreadPoolExecutor(SESSIONS) as pool:
        clients = list(
            pool.map(lambda _: Client(url, verbose=False, download_files=False), range(SESSIONS))
        )

    def one(i: int) -> int:
        path = image(Path(folder), i)
        message = {"text": QUESTION.format(i=i), "files": [handle_file(str(path))]}
        result = clients[i].predict(message, [], "auto", "", api_name="/send")
        return _fetch_shown_files(url, result)

    ready.set()
    go.wait()
    start, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(SESSIONS) as pool:
        fetched = list(pool.map(one, range(SESSIONS)))
    out.put(time.perf_counter() - start)
    out.put(sum(fetched))
    out.put(time.process_time() - cpu)


def machine_cpu_s() -> float:
    """CPU seconds all processes of the machine have used (user + system, from /proc/stat)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system = (int(x) for x in fields[:3])
    return (user + nice + system) / os.sysconf("SC_CLK_TCK")


CPU: dict[str, list[float]] = {"clients": [], "app": [], "rest": []}
"""CPU seconds per UI round: the client process, the app's process, everything else."""


def ui_round(url: str, folder: Path, nice: bool = False) -> float:
    """Twenty `/send` calls at once from another process; the timer starts once its
    clients are built, and each call's image upload is part of the time."""
    ctx = multiprocessing.get_context("spawn")
    ready, go, out = ctx.Event(), ctx.Event(), ctx.Queue()
    worker = ctx.Process(target=_ui_clients, args=(url, str(folder), nice, ready, go, out))
    worker.start()
    try:
        deadline = time.monotonic() + 300
        while not ready.wait(0.5):
            if not worker.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the client process did not get ready")
        app_cpu, all_cpu = time.process_time(), machine_cpu_s()
        go.set()
        took: float = out.get(timeout=900)
        app_cpu, all_cpu = time.process_time() - app_cpu, machine_cpu_s() - all_cpu
        fetched = out.get(timeout=60)
        if fetched < SESSIONS:  # every chat shows its image: the clients did see the files
            raise RuntimeError(f"the clients fetched {fetched} shown files, not {SESSIONS}")
        client_cpu = out.get(timeout=60)
        CPU["clients"].append(client_cpu)
        CPU["app"].append(app_cpu)
        CPU["rest"].append(all_cpu - client_cpu - app_cpu)
        return took
    finally:
        worker.join(30)


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
        "--nice-clients",
        action="store_true",
        help="run the UI's clients at the lowest CPU priority (browsers are on other machines)",
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-load-"))
    config = load_config(
        {
            "model": args.model,
            "data_dir": str(folder / "data"),
            "llm": {"base_url": args.llm_url},
            "agent": {"max_steps": 0},  # one answer call per turn, like the bare side
        }
    )
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
    ui_folder = folder / "ui"
    ui_folder.mkdir()
    ui_config = config.model_copy(update={"data_dir": ui_folder / "data"})
    # Its own client: the UI server runs on its own event loop, and an HTTP connection
    # pool belongs to the loop that first used it.
    ui_client = OpenAIChatModel(args.llm_url, load_profile(args.model).served_name)
    ui_model = Recording(ui_client, args.tokens)
    holder = AssistantHolder(ui_config, model=ui_model)
    server = UIServer(create_app(ui_config, holder), "127.0.0.1", free_port())
    server.start()
    through_ui: list[float] = []
    ui_plain: list[float] = []
    try:
        ui_round(server.url, ui_folder, args.nice_clients)  # warm-up
        for _ in range(args.rounds):
            ui_model.requests.clear()
            through_ui.append(ui_round(server.url, ui_folder, args.nice_clients))
            ui_plain.append(await bare_round(client, list(ui_model.requests)))
        ui_sessions = len(holder.current.sessions.list(limit=10_000))
    finally:
        server.close()
    med = statistics.median
    print(f"{SESSIONS} concurrent sessions; {args.tokens} tokens per answer; model {args.model}")
    print("| path | median wall s | bare median s | ratio |")
    print("|---|---|---|---|")
    print(f"| service (Assistant.run_turn) | {med(served):.2f} | {med(plain):.2f} | "
          f"{med(served) / med(plain):.3f} |")  # fmt: skip
    print(f"| UI HTTP (gradio_client) | {med(through_ui):.2f} | {med(ui_plain):.2f} | "
          f"{med(through_ui) / med(ui_plain):.3f} |")  # fmt: skip
    print(f"service sessions stored: {service_sessions}, whole: {service_whole}")
    print(f"UI sessions stored: {ui_sessions} (expected {SESSIONS * (args.rounds + 1)})")
    timed = {k: v[1:] for k, v in CPU.items()}  # without the warm-up round
    print(
        "CPU seconds per UI round (median): clients {:.1f}, app process {:.1f}, "
        "model server and the rest {:.1f}".format(*(med(v) for v in timed.values()))
    )


if __name__ == "__main__":
    asyncio.run(main())
