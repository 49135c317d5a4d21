"""The app asks no one outside this machine for anything: no telemetry, no version check."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from assistant.config import load_config
from assistant.testing import ScriptedChatModel
from tests.vllm_servers import free_port

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def test_starting_and_opening_the_app_resolves_no_outside_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ui.app import UIServer, create_app
    from ui.holder import AssistantHolder

    # Gradio's own default: usage telemetry to Hugging Face and a version check on PyPI,
    # each from a thread of its own started when the interface is built.
    monkeypatch.delenv("GRADIO_ANALYTICS_ENABLED", raising=False)
    asked: list[str] = []
    resolve = socket.getaddrinfo

    def recorded(host: Any, *args: Any, **kwargs: Any) -> Any:
        asked.append(host.decode() if isinstance(host, bytes) else str(host))
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", recorded)
    before = set(threading.enumerate())
    config = load_config({"data_dir": str(tmp_path / "data")})
    server = UIServer(
        create_app(config, AssistantHolder(config, model=ScriptedChatModel([]))),
        "127.0.0.1",
        free_port(),
    )
    server.start()
    try:
        assert httpx.get(server.url, timeout=30).status_code == 200
        assert httpx.get(f"{server.url}/gradio_api/info", timeout=30).status_code == 200
        # Whatever else started meanwhile (Gradio's request threads end within seconds).
        deadline = time.monotonic() + 15
        for thread in set(threading.enumerate()) - before:
            if thread.name.startswith(("Thread-", "version_check")) and not thread.daemon:
                thread.join(max(0.0, deadline - time.monotonic()))
    finally:
        server.close()
    assert asked, "no name was resolved at all: the recording did not take"
    assert [host for host in asked if host not in LOOPBACK] == []
