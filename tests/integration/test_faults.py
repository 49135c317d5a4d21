"""Model server faults through the agent graph, the Assistant façade and `medassist chat`.

A real fault-injecting server process (tests/faults/server.py) breaks the answer the way
a model server can; the turn must end in a clear message, keep the partial answer marked
incomplete (never stored as complete), leave the session intact, and the next turn must
work once the server is back.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from assistant.config import AppConfig, load_config
from assistant.events import Notice, Token, TurnDone, TurnEvent, TurnFailed
from assistant.llm import INCOMPLETE_KEY, Incomplete
from assistant.service import Assistant
from tests.faults.fixture import FaultServer
from tests.faults.server import DEFAULT_TEXT

REPO = Path(__file__).resolve().parents[2]


def _config(server: FaultServer, data_dir: Path) -> AppConfig:
    llm = {"base_url": server.url, "timeout_s": 1.5, "max_retries": 1}
    return load_config({"model": "smollm2-135m", "data_dir": str(data_dir), "llm": llm})


async def _turn(assistant: Assistant, session: str, text: str) -> list[TurnEvent]:
    return [e async for e in assistant.run_turn(session, text)]


@pytest.mark.parametrize(
    ("mode", "options", "reason", "kept"),
    [
        ("drop", {"after": 2}, Incomplete.DROPPED, "Hello there,"),
        ("eof", {"after": 2}, Incomplete.DROPPED, "Hello there,"),
        ("stall", {"after": 3, "stall_s": 20}, Incomplete.STALLED, "Hello there, the"),
        ("malformed", {"after": 2}, Incomplete.MALFORMED, "Hello there,"),
        ("error_event", {"after": 1}, Incomplete.SERVER_ERROR, "Hello"),
        ("length", {"after": 4}, Incomplete.TOKEN_LIMIT, "Hello there, the answer"),
    ],
)
async def test_an_answer_cut_short_is_kept_marked_and_the_next_turn_works(
    fault_server: FaultServer,
    tmp_path: Path,
    mode: str,
    options: dict[str, object],
    reason: Incomplete,
    kept: str,
) -> None:
    async with Assistant(_config(fault_server, tmp_path)) as assistant:
        session = assistant.new_session().id
        fault_server.set(mode, **options)
        events = await _turn(assistant, session, "Explain windowing.")
        done = events[-1]
        assert isinstance(done, TurnDone), events
        assert done.answer == kept == "".join(e.text for e in events if isinstance(e, Token))
        assert done.incomplete == reason
        notices = [e.text for e in events if isinstance(e, Notice)]
        assert len(notices) == 1 and reason.split(" (")[0][:20] in notices[0]
        stored = (await assistant.history(session))[-1]
        assert isinstance(stored, AIMessage) and stored.content == kept
        assert stored.additional_kwargs[INCOMPLETE_KEY] == str(reason)

        fault_server.set("normal")
        events = await _turn(assistant, session, "Go on.")
        done = events[-1]
        assert isinstance(done, TurnDone) and done.answer == DEFAULT_TEXT
        assert done.incomplete is None
        history = await assistant.history(session)
    assert [type(m) for m in history] == [HumanMessage, AIMessage, HumanMessage, AIMessage]
    assert history[1].additional_kwargs[INCOMPLETE_KEY] == str(reason)
    assert INCOMPLETE_KEY not in history[3].additional_kwargs


async def test_a_server_error_fails_the_turn_clearly_and_keeps_the_message(
    fault_server: FaultServer, tmp_path: Path
) -> None:
    async with Assistant(_config(fault_server, tmp_path)) as assistant:
        session = assistant.new_session().id
        fault_server.set("status", status=500, scope="all")
        events = await _turn(assistant, session, "First question")
        failed = events[-1]
        assert isinstance(failed, TurnFailed) and "model server failed (500)" in failed.message
        fault_server.set("normal")
        events = await _turn(assistant, session, "Second question")
        assert isinstance(events[-1], TurnDone) and events[-1].answer == DEFAULT_TEXT
        history = await assistant.history(session)
    assert [m.content for m in history] == ["First question", "Second question", DEFAULT_TEXT]


async def test_a_break_before_any_text_fails_the_turn_and_stores_no_answer(
    fault_server: FaultServer, tmp_path: Path
) -> None:
    async with Assistant(_config(fault_server, tmp_path)) as assistant:
        session = assistant.new_session().id
        fault_server.set("drop", after=0)
        events = await _turn(assistant, session, "Hello?")
        history = await assistant.history(session)
    failed = events[-1]
    assert isinstance(failed, TurnFailed) and "dropped the connection" in failed.message
    assert [type(m) for m in history] == [HumanMessage]


async def test_a_server_restarted_between_turns_is_used_again(
    fault_server: FaultServer, tmp_path: Path
) -> None:
    async with Assistant(_config(fault_server, tmp_path)) as assistant:
        session = assistant.new_session().id
        first = await _turn(assistant, session, "One")
        fault_server.kill()
        down = await _turn(assistant, session, "Two")
        fault_server.start()  # same port; the client's pooled connection went stale
        back = await _turn(assistant, session, "Three")
        history = await assistant.history(session)
    assert isinstance(first[-1], TurnDone) and isinstance(back[-1], TurnDone)
    assert isinstance(down[-1], TurnFailed) and "not reachable" in down[-1].message
    assert back[-1].answer == DEFAULT_TEXT
    assert [m.content for m in history] == ["One", DEFAULT_TEXT, "Two", "Three", DEFAULT_TEXT]


def _chat(
    server: FaultServer, data_dir: Path, stdin: str, *args: str
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "assistant.cli", "chat", "--llm-url", server.url]
    return subprocess.run(
        [*command, "--data-dir", str(data_dir), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        check=False,
    )


def test_medassist_chat_shows_a_dropped_answer_as_incomplete(
    fault_server: FaultServer, tmp_path: Path
) -> None:
    fault_server.set("eof", after=2)  # the case that used to be stored as complete
    first = _chat(fault_server, tmp_path, "Say hello\n/quit\n")
    assert first.returncode == 0, first.stderr
    out = first.stdout
    assert "assistant> Hello there," in out
    assert "(incomplete: the model server dropped the connection)" in out
    assert "send the message again once the server is back" in out
    session = out.split("Session ", 1)[1].split(" ", 1)[0]
    fault_server.set("normal")
    again = _chat(fault_server, tmp_path, "/quit\n", "--session", session)
    assert again.returncode == 0, again.stderr
    assert "assistant> Hello there, (incomplete: the model server dropped the connection)" in (
        again.stdout
    )
