"""Several app instances on one PostgreSQL database and one shared data folder.

Each instance is a real `medassist` process. Concurrent turns in different sessions on two
UI instances lose nothing; a session started in one instance continues in another; an
instance killed with SIGKILL in the middle of an answer leaves the session to the other.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from assistant.config import AppConfig, load_config
from assistant.events import TurnDone
from assistant.server import VLLMServer
from assistant.service import Assistant
from tests.faults.fixture import FaultServer
from tests.integration.test_durability import read_until
from tests.integration.test_load import UIProcess, _image, _turn

PER_INSTANCE = 10


def _config(data: Path, url: str, llm_url: str, model: str | None = None) -> AppConfig:
    overrides: dict[str, Any] = {
        "data_dir": str(data),
        "storage": {"url": url},
        "llm": {"base_url": llm_url},
    }
    if model:
        overrides["model"] = model
    return load_config(overrides, environ={})


def _texts(history: list[Any]) -> list[str]:
    return [str(m.content) for m in history if isinstance(m, HumanMessage | AIMessage)]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_two_ui_instances_share_sessions_and_lose_nothing(
    tmp_path: Path, pg_url: str, fault_server: FaultServer
) -> None:
    data = tmp_path / "shared"
    images = tmp_path / "images"
    images.mkdir()
    fault_server.set("normal", delay_s=0.05)
    env = {"MEDASSIST_STORAGE__URL": pg_url}
    instances = [UIProcess(data, fault_server.url, env), UIProcess(data, fault_server.url, env)]
    for ui in instances:
        ui.start()
    try:
        jobs = [(instances[i % 2].url, f"Question {i} on instance {i % 2}") for i in range(20)]
        with ThreadPoolExecutor(len(jobs)) as pool:
            shown = list(
                pool.map(lambda i: _turn(jobs[i][0], jobs[i][1], _image(images, i)), range(20))
            )
        for (_, question), history in zip(jobs, shown, strict=True):
            assert question in str(history) and "Hello there" in str(history)
    finally:
        for ui in instances:
            ui.stop()
    assert not (data / "sessions.sqlite").exists() and not (data / "checkpoints.sqlite").exists()

    async def stored() -> dict[str, list[str]]:
        async with Assistant(_config(data, pg_url, fault_server.url)) as assistant:
            sessions = assistant.list_sessions()
            for s in sessions:  # every upload's file is in the shared folder
                assert all(a.path.is_file() for a in assistant.attachments(s.id).values())
            return {s.id: _texts(await assistant.history(s.id)) for s in sessions}

    histories = asyncio.run(stored())
    assert len(histories) == len(jobs)
    questions = sorted(q for _, q in jobs)
    assert sorted(t[0] for t in histories.values()) == questions
    for texts in histories.values():
        assert len(texts) == 2 and texts[1].startswith("Hello there"), texts


def _chat(data: Path, pg_url: str, server: VLLMServer, *extra: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDASSIST_")}
    env["MEDASSIST_STORAGE__URL"] = pg_url
    cmd = [
        sys.executable, "-m", "assistant.cli", "chat", "--llm-url", server.url,
        "--data-dir", str(data), "--model", server.profile.name, *extra,
    ]  # fmt: skip
    return subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env
    )


def _answer_so_far(output: str) -> str:
    """The streamed answer text after the last prompt, without the HTTP client's log lines."""
    tail = output.rsplit("assistant> ", 1)[-1]
    return "".join(x for x in tail.splitlines() if not x.startswith("INFO ")).strip()


@pytest.mark.vllm
async def test_an_instance_killed_mid_answer_leaves_the_session_to_another(
    tmp_path: Path, pg_url: str, text_server: VLLMServer
) -> None:
    data = tmp_path / "shared"
    first = "Name one sign of pneumonia on a chest radiograph."
    second = "Write a long paragraph about reading chest radiographs."
    with _chat(data, pg_url, text_server) as a:
        assert a.stdin is not None
        try:
            banner = read_until(a, lambda s: "you> " in s, 120)
            session = banner.split("Session ", 1)[1].split()[0]
            a.stdin.write(f"{first}\n".encode())
            a.stdin.flush()
            read_until(a, lambda s: "you> " in s, 240)  # the first answer is complete
            a.stdin.write(f"{second}\n".encode())
            a.stdin.flush()
            read_until(a, lambda s: len(_answer_so_far(s)) > 20, 180)
        finally:
            a.kill()  # SIGKILL while the second answer streams
            a.wait(10)
    with _chat(data, pg_url, text_server, "--session", session) as b:
        assert b.stdin is not None
        try:
            read_until(b, lambda s: "you> " in s, 120)
            b.stdin.write(b"Summarise that in one line.\n")
            b.stdin.flush()
            read_until(b, lambda s: "you> " in s, 240)
        finally:
            b.stdin.close()
            b.wait(30)
    config = _config(data, pg_url, text_server.url, text_server.profile.name)
    async with Assistant(config) as assistant:
        history = await assistant.history(session)
        assert [m.content for m in history if isinstance(m, HumanMessage)] == [
            first,
            second,
            "Summarise that in one line.",
        ]
        answers = [m for m in history if isinstance(m, AIMessage) and not m.tool_calls]
        assert answers and str(answers[-1].content).strip()  # the other instance answered
        events = [e async for e in assistant.run_turn(session, "Thanks.")]
        assert isinstance(events[-1], TurnDone)
