"""Many sessions at once through the UI's HTTP endpoints, and the app killed in the middle.

The UI runs as its own process (`medassist ui`), as in production; the model server is the
fault server in its normal mode (a real OpenAI-compatible process streaming at a set pace),
so the test is about the app, not about CPU decoding speed. Clients are Gradio's own
`gradio_client`, one per browser session.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_core.messages import AIMessage, HumanMessage
from PIL import Image

from assistant.config import load_config
from assistant.events import TurnDone
from assistant.service import Assistant
from tests.faults.fixture import FaultServer
from tests.vllm_servers import free_port

SESSIONS = 20
MEDASSIST = Path(sys.executable).with_name("medassist")


class UIProcess:
    """`medassist ui` on loopback against `llm_url`, with its own data folder."""

    def __init__(self, data_dir: Path, llm_url: str, env: dict[str, str] | None = None) -> None:
        self.data_dir, self.llm_url = data_dir, llm_url
        self.extra_env = env or {}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEDASSIST_")}
        env.update(self.extra_env)
        cmd = [str(MEDASSIST), "ui", "--llm-url", self.llm_url, "--data-dir",
               str(self.data_dir), "--port", str(self.port)]  # fmt: skip
        with (self.data_dir.parent / f"ui-{self.port}.log").open("ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"medassist ui exited with {self.proc.returncode}")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise AssertionError(f"medassist ui did not answer on {self.url}")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def _image(folder: Path, i: int) -> Path:
    path = folder / f"case-{i:02d}.png"
    pixels = np.full((48, 64), 10 * i % 250, np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def _turn(url: str, text: str, image: Path) -> list[Any]:
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False)
    message = {"text": text, "files": [handle_file(str(image))]}
    return list(client.predict(message, [], "auto", "", api_name="/send")[1])


def _integrity(path: Path) -> str:
    with sqlite3.connect(path) as db:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])


async def _histories(data_dir: Path, llm_url: str) -> dict[str, list[Any]]:
    config = load_config({"data_dir": str(data_dir), "llm": {"base_url": llm_url}})
    async with Assistant(config) as assistant:
        return {s.id: await assistant.history(s.id) for s in assistant.list_sessions()}


def _texts(history: list[Any]) -> list[str]:
    return [str(m.content) for m in history if isinstance(m, HumanMessage | AIMessage)]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_twenty_sessions_at_once_then_the_app_killed_mid_turn(
    tmp_path: Path, fault_server: FaultServer
) -> None:
    data_dir = tmp_path / "data"
    images = tmp_path / "images"
    images.mkdir()
    fault_server.set("normal", delay_s=0.05)
    ui = UIProcess(data_dir, fault_server.url)
    ui.start()
    try:
        questions = [f"Question {i}: what is in this image?" for i in range(SESSIONS)]
        with ThreadPoolExecutor(SESSIONS) as pool:
            shown = list(
                pool.map(lambda i: _turn(ui.url, questions[i], _image(images, i)), range(SESSIONS))
            )
        for i, history in enumerate(shown):  # every browser saw its own question answered
            assert questions[i] in str(history) and "Hello there" in str(history), history
        # Now slow answers, and the app killed while they stream.
        fault_server.set("normal", delay_s=0.5)
        pool = ThreadPoolExecutor(SESSIONS)
        futures = [
            pool.submit(_turn, ui.url, f"Second question {i}", _image(images, 100 + i))
            for i in range(SESSIONS)
        ]
        time.sleep(6.0)
        ui.kill()
        _, pending = wait(futures, timeout=60)  # the clients fail: the server is gone
        pool.shutdown(wait=False, cancel_futures=True)
        assert not pending, "clients hung after the server was killed"
    finally:
        ui.stop()
    for name in ("checkpoints.sqlite", "sessions.sqlite"):
        assert _integrity(data_dir / name) == "ok", name
    fault_server.set("normal", delay_s=0.0)
    histories = asyncio.run(_histories(data_dir, fault_server.url))
    first = [h for h in histories.values() if any(t.startswith("Question") for t in _texts(h))]
    assert len(first) == SESSIONS  # nothing lost from the first round
    for history in first:
        texts = _texts(history)
        question = next(t for t in texts if t.startswith("Question"))
        answer = texts[texts.index(question) + 1]  # each answer follows its own question
        assert answer.startswith("Hello there"), texts
    # The killed round: each session holds what was checkpointed, whole, and goes on.
    ui = UIProcess(data_dir, fault_server.url)
    ui.start()
    try:
        after = _turn(ui.url, "After the restart: still there?", _image(images, 99))
        assert "Hello there" in str(after)
    finally:
        ui.stop()
    for name in ("checkpoints.sqlite", "sessions.sqlite"):
        assert _integrity(data_dir / name) == "ok", name
    config = load_config({"data_dir": str(data_dir), "llm": {"base_url": fault_server.url}})

    async def continue_all() -> list[Any]:
        async with Assistant(config) as assistant:
            ends = []
            for session in assistant.list_sessions():
                events = [e async for e in assistant.run_turn(session.id, "And now?")]
                ends.append(events[-1])
            return ends

    ends = asyncio.run(continue_all())
    assert ends and all(isinstance(e, TurnDone) and e.answer.startswith("Hello") for e in ends)
