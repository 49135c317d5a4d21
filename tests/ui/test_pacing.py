"""Streaming answers share a budget of chat updates: alone, an answer updates often; among
several at once, each updates less often; every token arrives either way."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from assistant.config import load_config
from tests.faults.fixture import FaultServer, fault_server  # noqa: F401 - the fixture
from tests.ui.conftest import HTTP_CLIENT_WARNINGS
from tests.vllm_servers import free_port
from ui.pacing import FramePacer

pytestmark = HTTP_CLIENT_WARNINGS
ANSWER = " ".join(f"word{i}" for i in range(40))


def test_the_budget_is_split_among_the_streaming_turns() -> None:
    pacer = FramePacer(20, min_interval_s=0.1)
    assert pacer.interval_s() == 0.1
    with ExitStack() as stack:
        for _ in range(20):
            stack.enter_context(pacer.turn())
        assert pacer.streaming == 20
        assert pacer.interval_s() == pytest.approx(1.0)  # 20 updates a second among 20 turns
    with pytest.raises(RuntimeError), pacer.turn():
        raise RuntimeError("a turn that fails still stops counting")
    assert pacer.streaming == 0 and pacer.interval_s() == 0.1
    with pytest.raises(ValueError):
        FramePacer(0)


def _streamed(url: str, text: str) -> list[str]:
    """The answer as each chat update showed it while it streamed, the final one last."""
    from gradio_client import Client

    client = Client(url, verbose=False, download_files=False)
    try:
        job = client.submit({"text": text, "files": []}, [], "auto", "", api_name="/send")
        job.result(timeout=120)
        return [_answer_in(output[1]) for output in job.outputs()]
    finally:
        client.close()


def _answer_in(chat: list[Any]) -> str:
    """The text of the chat's message that holds the answer ('' before it starts)."""
    for message in chat:
        content = message.get("content")
        parts = content if isinstance(content, list) else [content]
        text = "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in parts)
        if message.get("role") == "assistant" and text.startswith("word0"):
            return text
    return ""


def test_four_answers_at_once_update_less_often_than_one(
    tmp_path: Path,
    fault_server: FaultServer,  # noqa: F811 - the fixture
) -> None:
    from ui.app import UIServer, create_app
    from ui.holder import AssistantHolder

    # Each answer streams 40 tokens over about 2 s from a real OpenAI-compatible process.
    fault_server.set("normal", text=ANSWER, delay_s=0.05)
    config = load_config(
        {
            "data_dir": str(tmp_path / "data"),
            "llm": {"base_url": fault_server.url},
            "ui": {"stream_updates_per_s": 4, "show_marks": False},
        }
    )
    server = UIServer(create_app(config, AssistantHolder(config)), "127.0.0.1", free_port())
    server.start()
    try:
        alone = _streamed(server.url, "Alone: describe it.")
        with ThreadPoolExecutor(4) as pool:
            together = list(pool.map(lambda i: _streamed(server.url, f"Chat {i}."), range(4)))
    finally:
        server.close()

    def partials(shown: list[str]) -> list[str]:
        """The distinct partial answers shown before the complete one."""
        return [s for s in dict.fromkeys(shown) if s and not s.startswith(ANSWER)]

    # Every chat ends with the whole answer: nothing is dropped by showing it in steps.
    for shown in (alone, *together):
        assert shown[-1].startswith(ANSWER), shown[-1]
    # Alone: 4 updates a second for its ~2 s answer. Four at once: one each a second.
    shown_alone = partials(alone)
    shown_together = [partials(shown) for shown in together]
    assert len(shown_alone) >= 5, shown_alone
    assert all(len(s) <= 4 for s in shown_together), [len(s) for s in shown_together]
    assert all(len(s) < len(shown_alone) for s in shown_together)
