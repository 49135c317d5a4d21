"""A bug in the chat handler itself (outside the turn) ends the turn with a notice.

The message box becomes usable again with the unsent message in it, the exception's text
(which may name a file) is not shown, and the next message works.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from assistant.config import load_config
from assistant.service import Assistant
from assistant.testing import ScriptedChatModel
from tests.ui.test_chat_browser import wait_turn_done
from tests.vllm_servers import free_port

SECRET = "Surname_Firstname_scan.png"


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_bug_before_the_turn_leaves_the_box_usable_with_the_message(
    browser: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ui.app import SEND_FAILED, UIServer, create_app
    from ui.holder import AssistantHolder

    real = Assistant.new_session

    def broken(self: Assistant, *args: Any, **kwargs: Any) -> Any:
        raise OSError(f"disk trouble at /data/{SECRET}")

    monkeypatch.setattr(Assistant, "new_session", broken)
    config = load_config({"data_dir": str(tmp_path / "data")})
    model = ScriptedChatModel(['{"action": "answer"}', "A short answer."])
    app = create_app(config, AssistantHolder(config, model=model))
    server = UIServer(app, "127.0.0.1", free_port())
    server.start()
    try:
        page = browser.new_page()
        page.goto(server.url)
        area = page.locator("#message textarea")
        area.wait_for()
        area.fill("What does this show?")
        area.press("Enter")
        # The failure is quick: the box may be usable again before a poll sees it locked.
        page.wait_for_function(
            "(t) => document.querySelector('#chat').innerText.includes(t)"
            " && !document.querySelector('#message textarea').disabled",
            arg=SEND_FAILED.split(" (")[0],
            timeout=60_000,
        )
        assert area.input_value() == "What does this show?"
        chat = page.locator("#chat").inner_text()
        assert SEND_FAILED.split(" (")[0] in chat, chat
        assert SECRET not in page.content()
        assert page.locator(".toast-body").count() == 0  # no error toast of Gradio's
        # Fixed, the same message goes through.
        monkeypatch.setattr(Assistant, "new_session", real)
        area.press("Enter")
        wait_turn_done(page, timeout_s=60)
        page.wait_for_function(
            "() => document.querySelector('#chat').innerText.includes('A short answer.')",
            timeout=30_000,
        )
        assert area.input_value() == ""
        page.close()
    finally:
        server.close()
