"""The chat sends the session list again only when a turn changed it, and finds out from
the list's first entry alone (the whole list is read only to be sent)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from assistant.config import load_config
from assistant.testing import ScriptedChatModel
from ui.app import build_app
from ui.holder import AssistantHolder

NOW = 1_796_000_000.0
"""The clock of the session catalogue: every turn in the same minute."""


def _send_handler(demo: Any) -> Any:
    return next(f.fn for f in demo.fns.values() if f.name == "send")


async def _turn(send: Any, text: str, session_id: str | None, listed: str | None) -> Any:
    updates = send({"text": text, "files": []}, [], session_id, "auto", "", None, listed)
    return [u async for u in updates][-1]


async def test_the_list_is_sent_again_only_when_the_turn_changed_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = SimpleNamespace(time=lambda: NOW)
    monkeypatch.setattr("assistant.sessions.time", clock)
    config = load_config({"data_dir": str(tmp_path / "data"), "agent": {"max_steps": 0}})
    holder = AssistantHolder(config, model=ScriptedChatModel(["Fine."] * 4))
    send = _send_handler(build_app(config, holder))
    async with holder.lifespan(None):
        assistant = await holder.get()
        limits: list[int] = []
        listed_by = assistant.list_sessions

        def counted(owner: str | None = None, limit: int = 100) -> Any:
            limits.append(limit)
            return listed_by(owner, limit)

        monkeypatch.setattr(assistant, "list_sessions", counted)

        # A new session: the list gains it.
        first = await _turn(send, "What is this?", None, None)
        session = first[2]
        assert first[3]["__type__"] == "update"
        assert [c[1] for c in first[3]["choices"]] == [session]

        # The same session again, on top, same title, same minute: nothing to send, and
        # only the first entry was read (before and after the turn).
        limits.clear()
        again = await _turn(send, "And now?", session, session)
        assert again[3] == session
        assert limits == [1, 1]

        # Another session became the most recent: a turn here moves this one back on top.
        clock.time = lambda: NOW + 1
        other = assistant.new_session().id
        clock.time = lambda: NOW + 2
        moved = await _turn(send, "Once more?", session, session)
        assert moved[3]["__type__"] == "update"
        assert [c[1] for c in moved[3]["choices"]] == [session, other]
