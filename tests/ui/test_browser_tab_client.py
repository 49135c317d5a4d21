"""The load benchmark's browser-like client against the real app: a turn through it stores
what a browser's would, and the page's own events (load, change, then) run and succeed."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
from fastapi import FastAPI
from PIL import Image
from starlette.routing import Mount

from assistant.config import load_config
from benchmarks.gradio_http import BrowserTab, apply_diff, shown_files
from tests.faults.fixture import FaultServer, fault_server  # noqa: F401 - the fixture
from tests.ui.conftest import HTTP_CLIENT_WARNINGS
from tests.vllm_servers import free_port

pytestmark = HTTP_CLIENT_WARNINGS


def test_diffs_apply_in_place() -> None:
    chat = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "He"}]
    edited = apply_diff(chat, [["append", [1, "content"], "llo"], ["add", [2], {"x": 1}]])
    assert edited is chat and chat[1]["content"] == "Hello" and chat[2] == {"x": 1}
    assert apply_diff("a", [["append", [], "b"]]) == "ab"
    assert apply_diff([1, 2], [["delete", [0], None]]) == [2]
    with pytest.raises(ValueError):
        apply_diff({}, [["move", ["a"], 1]])


def test_the_files_a_chat_shows_are_its_file_data_and_markdown_images() -> None:
    """A Markdown picture resolves against the page, as the browser's `<img>` does."""
    chat = [
        {"role": "user", "content": "![img1 · x.png](gradio_api/file=/d/s/img1.png)"},
        {"role": "assistant", "content": "no ![picture here, only [brackets] and (words)"},
        {"content": {"file": {"path": "/d/s/o.png", "url": "http://h/gradio_api/file=/d/s/o.png"}}},
    ]
    assert shown_files("http://h:1/", chat) == {
        "http://h:1/gradio_api/file=/d/s/img1.png",
        "http://h/gradio_api/file=/d/s/o.png",
    }


def test_a_turn_through_a_browser_like_tab(
    tmp_path: Path,
    fault_server: FaultServer,  # noqa: F811 - the fixture
) -> None:
    from ui.app import UIServer, create_app
    from ui.holder import AssistantHolder

    fault_server.set("normal", delay_s=0.02)
    config = load_config(
        {"data_dir": str(tmp_path / "data"), "llm": {"base_url": fault_server.url}}
    )
    holder = AssistantHolder(config)
    app = create_app(config, holder)
    server = UIServer(app, "127.0.0.1", free_port())
    image = tmp_path / "scan.png"
    Image.fromarray(np.full((48, 64), 90, np.uint8)).save(image)

    async def turn(page_events: bool = True) -> tuple[BrowserTab, list[object], int]:
        tab = BrowserTab(server.url, page_events)
        await tab.open()  # the page's load events
        opened = tab.events_run
        message = {"text": "What is this?", "files": [await tab.upload(image)]}
        outputs = await tab.call("/send", message, [], None, "auto", "")
        await tab.settle()
        await tab.close()
        return tab, outputs, opened

    server.start()
    try:
        tab, outputs, opened = asyncio.run(turn())
        sessions = holder.current.list_sessions()
        queue = _gradio_queue(app)
        quiet, _, quiet_opened = asyncio.run(turn(page_events=False))
    finally:
        server.close()
    # The diagnostic tab (bench_load --no-page-events) runs the turn and loads its image,
    # and none of the events the page fires as outputs change.
    assert quiet.ran[quiet_opened:] == ["send"] and len(quiet.fetched) == 1, quiet.ran
    assert opened >= 2, "the page's load events ran when it opened"
    assert tab.failures == [], tab.failures
    assert len(tab.fetched) == 1, tab.fetched  # the chat's image, loaded once as shown
    # The new session and image brought every panel along in one event (ui.follow), and
    # the tools panel re-drew its actions for the image: no cascade of change events.
    turn_events = tab.ran[opened:]
    assert turn_events[0] == "send" and turn_events.count("follow_session") == 1, turn_events
    assert len(turn_events) <= 3, turn_events
    assert tab.updates > 1, "the answer streamed"
    assert "What is this?" in str(outputs[1]) and "Hello there" in str(outputs[1])
    assert len(sessions) == 1 and outputs[2] is None  # the State stays on the server
    # Gradio's per-event summary for a monitoring dashboard (a pandas table of past events on
    # every finished event) is not computed: the app serves no such dashboard.
    assert queue.events_recorded >= len(tab.ran), (queue.events_recorded, tab.ran)
    assert queue.cached_event_analytics_summary == {"functions": {}}


def _gradio_queue(app: FastAPI) -> Any:
    """The queue of the Gradio app mounted in `app` (Gradio's own object)."""
    mount = next(r for r in app.routes if isinstance(r, Mount))
    return cast(Any, mount.app).get_blocks()._queue
