"""The SQLite checkpointer: whole operations on its own thread, none on the event loop.

A person's own tool run (`run_tool`) goes through the graph and its checkpoints without a
model, so this runs without a server.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.sqlite import SqliteSaver
from PIL import Image

from assistant.checkpoints import ThreadedSqliteSaver, open_checkpointer
from assistant.config import StorageSettings, load_config
from assistant.events import ToolFinished
from assistant.service import Assistant
from tests.tools.segmentation.synthetic import he_tile, nuclei_mask


def _spy(monkeypatch: pytest.MonkeyPatch, calls: list[tuple[str, str]], name: str) -> None:
    original: Callable[..., Any] = getattr(SqliteSaver, name)

    def recorded(self: SqliteSaver, *args: Any, **kwargs: Any) -> Any:
        calls.append((name, threading.current_thread().name))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SqliteSaver, name, recorded)


def test_a_turn_checkpoints_on_the_saver_thread_not_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, str]] = []
    for name in ("get_tuple", "put", "put_writes"):
        _spy(monkeypatch, calls, name)
    config = load_config({"model": "smollm2-135m", "data_dir": str(tmp_path / "data")})
    image = tmp_path / "he.png"
    Image.fromarray(he_tile(nuclei_mask())).save(image)

    async def scenario() -> tuple[str, list[str]]:
        loop_thread = threading.current_thread().name
        async with Assistant(config) as assistant:
            assert isinstance(assistant.graph.checkpointer, ThreadedSqliteSaver)
            info = assistant.new_session("checkpoints")
            att = await assistant.aadd_upload(info.id, image, "he.png")
            args = {"image_id": att.id, "target": "nuclei_he"}
            events = [e async for e in assistant.run_tool(info.id, "segment", args)]
            assert any(isinstance(e, ToolFinished) and e.status == "success" for e in events)
            history = await assistant.history(info.id)
        return loop_thread, [m.type for m in history]

    loop_thread, roles = asyncio.run(scenario())
    assert "tool" in roles  # the run was checkpointed and read back
    made = {name for name, _ in calls}
    assert made == {"get_tuple", "put", "put_writes"}
    threads = {thread for _, thread in calls}
    assert loop_thread not in threads
    assert all(thread.startswith("checkpoints") for thread in threads), threads


def test_the_loop_runs_on_while_the_saver_waits_on_its_lock(tmp_path: Path) -> None:
    """A checkpoint stuck behind the saver's lock (a slow disk) leaves the loop serving."""

    async def scenario() -> int:
        storage = StorageSettings()
        async with open_checkpointer(storage, tmp_path) as saver:
            assert isinstance(saver, ThreadedSqliteSaver)
            config: Any = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
            saver.lock.acquire()
            try:
                pending = asyncio.ensure_future(saver.aget_tuple(config))
                ticks = 0
                for _ in range(50):
                    await asyncio.sleep(0.001)
                    ticks += 1
                assert not pending.done()
            finally:
                saver.lock.release()
            assert await pending is None
            return ticks

    assert asyncio.run(scenario()) == 50


def test_close_waits_for_checkpoints_already_asked_for(tmp_path: Path) -> None:
    """Leaving the block writes what was asked for before it: nothing is lost at shut-down."""
    from langgraph.checkpoint.base import empty_checkpoint

    async def write() -> None:
        async with open_checkpointer(StorageSettings(), tmp_path) as saver:
            config: Any = {"configurable": {"thread_id": "kept", "checkpoint_ns": ""}}
            asked = [  # asked for, not awaited
                asyncio.ensure_future(saver.aput(config, empty_checkpoint(), {"step": step}, {}))
                for step in range(5)
            ]
            await asyncio.sleep(0)
            assert not all(put.done() for put in asked)

    asyncio.run(write())

    async def read() -> list[int]:
        async with open_checkpointer(StorageSettings(), tmp_path) as saver:
            config: Any = {"configurable": {"thread_id": "kept"}}
            return [t.metadata["step"] async for t in saver.alist(config)]

    assert sorted(asyncio.run(read())) == [0, 1, 2, 3, 4]
