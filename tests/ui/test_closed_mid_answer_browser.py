"""A browser tab closed while the real model is still answering: the answer is not lost.

The real vLLM server streams the answer; the model client holds it after its first piece
until the test lets it go, so the tab is closed while the answer is certainly unfinished.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from assistant.config import load_config
from assistant.llm import ChatChunk, ChatModel, ChatRequest, OpenAIChatModel
from assistant.server import VLLMServer
from assistant.service import Assistant
from assistant.testing import ScriptedChatModel
from tests.ui.conftest import shot
from tests.ui.test_chat_browser import _bot_texts, send
from tests.vllm_servers import app_config, free_port
from ui.sessions_panel import STILL_RUNNING

pytestmark = [pytest.mark.browser, pytest.mark.vllm]

QUESTION = "Describe a normal chest radiograph in a few sentences."


@dataclass
class HeldAfterFirstPiece:
    """The real client; each answer (not the constrained action) waits after its first piece."""

    inner: ChatModel
    gate: threading.Event

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        first = True
        async for chunk in self.inner.stream(request):
            yield chunk
            if first and chunk.text and request.json_schema is None:
                first = False
                await asyncio.to_thread(self.gate.wait, 120)


def _wait(condition: Any, what: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_a_tab_closed_mid_answer_finds_the_answer_stored(
    browser: Any, text_server: VLLMServer, tmp_path: Path
) -> None:
    from ui.app import UIServer, create_app
    from ui.holder import AssistantHolder

    gate = threading.Event()
    config = app_config(text_server, tmp_path / "data")
    real = OpenAIChatModel(text_server.url, text_server.profile.served_name)
    holder = AssistantHolder(config, model=HeldAfterFirstPiece(real, gate))
    server = UIServer(create_app(config, holder), "127.0.0.1", free_port())
    server.start()
    context = browser.new_context()  # one browser profile: the reopened tab shares storage
    try:
        page = context.new_page()
        page.goto(server.url)
        page.wait_for_selector("#message textarea")
        send(page, QUESTION)
        _wait(lambda: any(_bot_texts(page)), "the answer's first piece was never shown", 60)
        partial = _bot_texts(page)[-1]
        page.close()  # the person closes the tab while the answer is being written
        session = holder.current.list_sessions()[0].id
        assert holder.current.turn_running(session)

        again = context.new_page()  # reopened: the browser reopens its session
        again.goto(server.url)
        again.wait_for_selector("#chat .bot")
        _wait(lambda: STILL_RUNNING in "\n".join(_bot_texts(again)), "no note while running")
        shot(again, "closed-mid-answer-reopened-while-running")
        gate.set()
        _wait(lambda: not holder.current.turn_running(session), "the turn never ended")
        # The reopened page shows the answer by itself once it is done (no reload).
        _wait(
            lambda: STILL_RUNNING not in "\n".join(_bot_texts(again)),
            "the reopened page never showed the finished answer",
            30,
        )
        shot(again, "closed-mid-answer-reopened-after")
        shown = _bot_texts(again)
        assert STILL_RUNNING not in "\n".join(shown), shown
        assert QUESTION in again.locator("#chat").inner_text()
    finally:
        gate.set()
        context.close()
        server.close()

    async def stored() -> list[Any]:
        store = load_config({"data_dir": str(config.data_dir)})
        async with Assistant(store, model=ScriptedChatModel([])) as assistant:
            return await assistant.history(session)

    with ThreadPoolExecutor(1) as pool:  # Playwright's loop runs in this thread
        history = pool.submit(asyncio.run, stored()).result()
    assert [type(m) for m in history] == [HumanMessage, AIMessage], history
    answer = str(history[-1].content)
    assert len(answer) > len(partial) and answer.startswith(partial[:3]), (partial, answer)
    assert answer.strip() in "\n".join(shown) or shown[-1] in answer
