"""vLLM stopped: the CLI and the UI say so clearly; the next turn works once it is back."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.server import VLLMServer
from tests.ui.conftest import serve_ui, shot
from tests.ui.test_chat_browser import _bot_texts, send, wait_turn_done
from tests.vllm_servers import app_config, free_port, start_server

pytestmark = [pytest.mark.vllm, pytest.mark.browser]


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VLLMServer]:
    server = start_server(tmp_path_factory.mktemp("vllm-down"), "smollm2-135m")
    yield server
    server.stop()


def cli_chat(
    server: VLLMServer, data: Path, text: str, session: str | None = None
) -> subprocess.CompletedProcess[str]:
    cmd = [
        sys.executable,
        "-m",
        "assistant.cli",
        "chat",
        "--llm-url",
        server.url,
        "--data-dir",
        str(data),
    ]
    if session:
        cmd += ["--session", session]
    return subprocess.run(
        cmd, input=f"{text}\n/quit\n", capture_output=True, text=True, timeout=300, check=False
    )


def test_stopped_server_then_recovery(own_server: VLLMServer, tmp_path: Path, browser: Any) -> None:
    own_server.stop()
    cli_data = tmp_path / "cli"
    down = cli_chat(own_server, cli_data, "hello")
    assert down.returncode == 0, down.stderr
    assert "[error]" in down.stderr and "not reachable" in down.stderr
    session = down.stdout.split("Session ", 1)[1].split()[0]

    port = free_port()
    demo = serve_ui(app_config(own_server, tmp_path / "ui"), port)
    try:
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_selector("#message textarea")
        send(page, "hello while the server is down")
        wait_turn_done(page, 120)
        assert "not reachable" in page.locator("#chat").inner_text()
        shot(page, "server-down")

        own_server.start()
        own_server.wait_ready(timeout_s=600)

        send(page, "hello again")
        wait_turn_done(page)
        last = _bot_texts(page)[-1]
        assert last and "not reachable" not in last
        assert "hello while the server is down" in page.locator("#chat").inner_text()
    finally:
        demo.close()

    up = cli_chat(own_server, cli_data, "hello again", session)
    assert up.returncode == 0 and "[error]" not in up.stderr, up.stderr
    assert "you> hello" in up.stdout, "the earlier message is still in the session"
    answer = up.stdout.rsplit("assistant> ", 1)[-1].strip()
    assert answer, up.stdout
