"""A session survives SIGKILL of the app in the middle of a streamed answer."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage

from assistant.events import TurnDone
from assistant.server import VLLMServer
from assistant.service import Assistant
from tests.vllm_servers import app_config

pytestmark = pytest.mark.vllm


def read_until(proc: subprocess.Popen[bytes], predicate: object, timeout_s: float) -> str:
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    out = b""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            out += chunk
            if predicate(out.decode(errors="replace")):  # type: ignore[operator]
                return out.decode(errors="replace")
    raise AssertionError(f"timed out; output so far: {out.decode(errors='replace')!r}")


async def test_sigkill_mid_answer_keeps_history(text_server: VLLMServer, tmp_path: Path) -> None:
    cmd = [
        sys.executable,
        "-m",
        "assistant.cli",
        "chat",
        "--llm-url",
        text_server.url,
        "--data-dir",
        str(tmp_path),
        "--model",
        text_server.profile.name,
    ]
    with subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    ) as proc:
        assert proc.stdin is not None
        try:
            banner = read_until(proc, lambda s: "you> " in s, 120)
            session = banner.split("Session ", 1)[1].split()[0]
            proc.stdin.write(b"Write a long paragraph about reading chest radiographs.\n")
            proc.stdin.flush()
            # Wait until the answer is streaming (text after the prompt), then kill -9.
            read_until(proc, lambda s: len(s.rsplit("assistant> ", 1)[-1].strip()) > 20, 180)
        finally:
            proc.kill()
            proc.wait(10)
    async with Assistant(app_config(text_server, tmp_path)) as assistant:
        history = await assistant.history(session)
        assert [m.content for m in history if isinstance(m, HumanMessage)] == [
            "Write a long paragraph about reading chest radiographs."
        ]
        events = [e async for e in assistant.run_turn(session, "Summarise that in one line.")]
        assert isinstance(events[-1], TurnDone) and events[-1].answer
        history = await assistant.history(session)
    assert [m.content for m in history if isinstance(m, HumanMessage)] == [
        "Write a long paragraph about reading chest radiographs.",
        "Summarise that in one line.",
    ]
