"""The fault server as a pytest fixture: a real process on loopback, restartable in place."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SERVER = Path(__file__).with_name("server.py")


class FaultServer:
    """Controls one fault server process; `url` ends in /v1 like vLLM's."""

    def __init__(self) -> None:
        self.port = 0
        self._proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, mode: str = "normal") -> None:
        """Start the process (on the previous port when restarting) and wait until it listens."""
        cmd = [sys.executable, str(SERVER), "--port", str(self.port), "--mode", mode]
        for _ in range(50):  # a just-freed port can take a moment to bind again
            self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
            assert self._proc.stdout is not None
            line = self._proc.stdout.readline()
            self._proc.stdout.close()  # the server writes nothing after this line
            if line.startswith("listening "):
                self.port = int(line.split()[1])
                return
            self._proc.wait()
            time.sleep(0.1)
        raise RuntimeError(f"the fault server did not start on port {self.port}")

    def kill(self) -> None:
        """Kill the process at once (no clean shutdown), as a crash would."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()

    def restart(self, mode: str = "normal") -> None:
        """Kill and start again on the same port: the client's pooled connections go stale."""
        self.kill()
        self.start(mode)

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    def set(self, mode: str, **options: Any) -> None:
        """Use `mode` for the following requests.

        Options: after, text, stall_s, status, scope, delay_s (between tokens), first_s
        (before the first token).
        """
        self._post("/_fault", {"mode": mode, **options})

    def requests(self) -> list[dict[str, Any]]:
        """Every chat request body the server received since it started."""
        url = f"http://127.0.0.1:{self.port}/_fault/requests"
        with urllib.request.urlopen(url, timeout=5) as response:
            data: list[dict[str, Any]] = json.loads(response.read())
        return data


@pytest.fixture
def fault_server() -> Iterator[FaultServer]:
    """A fault-injecting OpenAI-compatible server, normal until told otherwise."""
    server = FaultServer()
    server.start()
    yield server
    server.kill()
