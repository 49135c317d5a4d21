"""Real vLLM servers for integration tests (started once per session or module).

They use the built models under the project's .cache (scripts/setup.sh builds them); a
missing vLLM environment is a failure with advice, never a silent skip.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from assistant.config import AppConfig, load_config, load_profile
from assistant.llm import ChatChunk, ChatModel, ChatRequest, OpenAIChatModel
from assistant.server import VLLMServer, vllm_python


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_config(data_dir: Path, model: str, port: int) -> AppConfig:
    return load_config({"model": model, "data_dir": str(data_dir), "llm": {"port": port}})


def start_server(tmp_root: Path, model: str) -> VLLMServer:
    port = free_port()
    config = server_config(tmp_root, model, port)
    python = vllm_python(config)
    if not python.exists():
        pytest.fail(f"vLLM environment missing at {python}: run `bash scripts/setup.sh` first")
    server = VLLMServer(config, load_profile(model), port)
    server.start()
    try:
        server.wait_ready(timeout_s=600)
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture(scope="session")
def text_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VLLMServer]:
    """vLLM serving the embedded default model (SmolLM2-135M-Instruct)."""
    server = start_server(tmp_path_factory.mktemp("vllm-text"), "smollm2-135m")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def vision_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VLLMServer]:
    """vLLM serving the tiny LLaVA plumbing model (untrained vision tower)."""
    server = start_server(tmp_path_factory.mktemp("vllm-vision"), "tiny-llava")
    yield server
    server.stop()


def app_config(server: VLLMServer, data_dir: Path) -> AppConfig:
    """App config pointing at `server` with its own data folder."""
    return load_config(
        {"model": server.profile.name, "data_dir": str(data_dir), "llm": {"base_url": server.url}}
    )


@dataclass
class RecordingModel:
    """Wraps the real client and keeps each request and the prompt token counts."""

    inner: ChatModel
    requests: list[ChatRequest] = field(default_factory=list)
    prompt_tokens: list[int] = field(default_factory=list)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        self.requests.append(request)
        async for chunk in self.inner.stream(request):
            if chunk.prompt_tokens is not None:
                self.prompt_tokens.append(chunk.prompt_tokens)
            yield chunk

    async def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if close is not None:
            await close()


def recording_client(server: VLLMServer) -> RecordingModel:
    return RecordingModel(OpenAIChatModel(server.url, server.profile.served_name))
