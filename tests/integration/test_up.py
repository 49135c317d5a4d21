"""`medassist up`, the main job: it starts vLLM and the UI, and stops both on Ctrl-C or on
SIGTERM (docker stop, systemd, kill)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from assistant.server import is_healthy
from tests.vllm_servers import free_port

pytestmark = pytest.mark.vllm


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_up_serves_model_and_ui_then_stops_cleanly(tmp_path: Path, stop: signal.Signals) -> None:
    llm_port, ui_port = free_port(), free_port()
    log = tmp_path / "up.log"
    cmd = [sys.executable, "-m", "assistant.cli", "up", "--llm-port", str(llm_port),
           "--port", str(ui_port), "--data-dir", str(tmp_path / "data")]
    llm_url = f"http://127.0.0.1:{llm_port}/v1"
    with log.open("wb") as out, subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT) as proc:
        try:
            deadline = time.monotonic() + 600
            ui_ok = False
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    ui_ok = httpx.get(f"http://127.0.0.1:{ui_port}/", timeout=2).status_code == 200
                except httpx.HTTPError:
                    ui_ok = False
                if ui_ok:
                    break
                time.sleep(2)
            text = log.read_text()
            assert ui_ok, f"the UI never answered; log:\n{text[-3000:]}"
            assert is_healthy(llm_url), "the UI came up before the model server was ready"
            assert f"MedAssist UI: http://127.0.0.1:{ui_port}" in text
            assert "Model server ready" in text
        finally:
            proc.send_signal(stop)
            try:
                proc.wait(90)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise
    deadline = time.monotonic() + 60
    while is_healthy(llm_url) and time.monotonic() < deadline:
        time.sleep(1)
    assert not is_healthy(llm_url), "vLLM must stop with the app"
