"""`ui.follow`: every panel's values from one event, the uploads read once; a panel that
fails leaves only itself."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import gradio as gr
import pytest

from tools.attachments import Attachment
from tools.errors import SessionNotFoundError
from ui.follow import Focus, Follower, follow


def test_one_event_gives_every_panel_its_values(caplog: pytest.LogCaptureFixture) -> None:
    read: list[str] = []

    async def uploads(session_id: str) -> Mapping[str, Attachment]:
        read.append(session_id)
        if session_id == "gone":
            raise SessionNotFoundError(session_id)
        return {}

    async def titles(focus: Focus, suffix: str) -> tuple[str, str]:
        return f"{focus.session_id}{suffix}", f"{len(focus.attachments)} uploads"

    async def broken(focus: Focus) -> tuple[str]:
        raise RuntimeError("a bug in this panel")

    async def short(focus: Focus) -> tuple[()]:
        return ()  # one value too few for its output

    with gr.Blocks() as demo:
        session = gr.State(None)
        suffix = gr.Textbox("!")
        a, b, c, d, e = (gr.Textbox() for _ in range(5))
        followers = [
            Follower("titles", [a, b], titles, [suffix]),
            Follower("broken", [c], broken),
            Follower("short", [d], short),
            Follower("last", [e], lambda f: _done((f.session_id or "none",))),
        ]
        follow(followers, session, [session.change], uploads)
    [fn] = [f for f in demo.fns.values() if f.name == "follow_session"]
    assert [t[1] for t in fn.targets] == ["change"] and fn.trigger_mode == "always_last"
    assert [o._id for o in fn.outputs] == [x._id for x in (a, b, c, d, e)]
    assert [i._id for i in fn.inputs] == [session._id, suffix._id]
    with caplog.at_level(logging.ERROR, logger="ui.follow"):
        values = asyncio.run(fn.fn("s1", "?"))
    assert values == ["s1?", "0 uploads", gr.skip(), gr.skip(), "s1"]
    assert read == ["s1"], "the uploads are read once for all the panels"
    failed = [r.getMessage() for r in caplog.records]
    assert failed == [
        "the broken panel failed to follow the session",
        "the short panel failed to follow the session",
    ]
    # A session that is gone: the panels still follow it (and say so), with no uploads.
    caplog.clear()
    assert asyncio.run(fn.fn("gone", ""))[:2] == ["gone", "0 uploads"]
    assert asyncio.run(fn.fn(None, ""))[-1] == "none" and read == ["s1", "gone"]


async def _done(values: tuple[Any, ...]) -> tuple[Any, ...]:
    return values


async def test_the_panels_follow_once_the_wait_is_over() -> None:
    """With `wait` (the app passes: until no turn is starting), the event computes nothing
    before it returns: twenty turns arriving together send their model requests first."""
    read: list[str] = []
    starting = asyncio.Event()

    async def uploads(session_id: str) -> Mapping[str, Attachment]:
        read.append(session_id)
        return {}

    with gr.Blocks() as demo:
        session = gr.State(None)
        shown = gr.Textbox()
        follow(
            [Follower("title", [shown], lambda f: _done((f.session_id,)))],
            session,
            [session.change],
            uploads,
            starting.wait,
        )
    [fn] = [f for f in demo.fns.values() if f.name == "follow_session"]
    task = asyncio.create_task(fn.fn("s1"))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not task.done() and read == []
    starting.set()
    assert await asyncio.wait_for(task, 1) == ["s1"] and read == ["s1"]
