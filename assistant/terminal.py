"""Terminal chat: the same agent as the UI, for people without a browser."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from assistant.config import AppConfig
from assistant.events import (
    AnswerReviewed,
    Notice,
    Token,
    ToolFinished,
    ToolStarted,
    TurnDone,
    TurnFailed,
    TurnQueued,
)
from assistant.llm import INCOMPLETE_KEY
from assistant.service import Assistant
from tools.errors import InputError, MedAssistError

HELP = """Commands: /image PATH (attach), /tool NAME (use this tool next), /session (show id),
/help, /quit. Anything else is a message to the assistant."""


async def _read_line(prompt: str) -> str | None:
    try:
        return await asyncio.to_thread(input, prompt)
    except EOFError:
        return None


async def chat(
    config: AppConfig, session_id: str | None = None, images: list[Path] | None = None
) -> int:
    """Run an interactive chat until /quit or end of input."""
    async with Assistant(config) as assistant:
        session = assistant.sessions.get(session_id) if session_id else assistant.new_session()
        print(f"Session {session.id} · model {assistant.profile.name} · {config.llm.url}")
        if assistant.profile.test_only:
            print(f"NOTE: {assistant.profile.description}")
        print(HELP)
        for message in await assistant.history(session.id):
            if message.type in ("human", "ai") and message.content:
                mark = incomplete_mark(message.additional_kwargs.get(INCOMPLETE_KEY))
                who = "you" if message.type == "human" else "assistant"
                print(f"{who}> {message.content}{mark}")
        pending: list[str] = []
        force: str | None = None
        for path in images or []:
            pending.append(_attach(assistant, session.id, path))
        while True:
            line = await _read_line("you> ")
            if line is None or line.strip() == "/quit":
                return 0
            line = line.strip()
            if not line:
                continue
            if line == "/help":
                print(HELP)
                continue
            if line == "/session":
                print(session.id)
                continue
            if line.startswith("/image "):
                attached = _attach(assistant, session.id, Path(line[7:].strip()).expanduser())
                if attached:
                    pending.append(attached)
                continue
            if line.startswith("/tool "):
                force = line[6:].strip()
                if force not in assistant.registry:
                    print(f"unknown tool {force!r}; tools: {', '.join(assistant.registry.names)}")
                    force = None
                continue
            await _turn(assistant, session.id, line, [p for p in pending if p], force)
            pending, force = [], None


def incomplete_mark(reason: object) -> str:
    """The suffix shown after an answer that was cut short (empty for a complete one)."""
    return f" (incomplete: {reason})" if reason else ""


def _attach(assistant: Assistant, session_id: str, path: Path) -> str:
    try:
        att = assistant.add_upload(session_id, path)
    except InputError as exc:
        print(f"[not attached: {exc}]")
        return ""
    print(f"[attached {att.id}: {att.name}]")
    return att.id


async def _turn(
    assistant: Assistant, session_id: str, text: str, ids: list[str], force: str | None
) -> None:
    print("assistant> ", end="", flush=True)
    try:
        async for event in assistant.run_turn(session_id, text, ids, force_tool=force):
            if isinstance(event, Token):
                print(event.text, end="", flush=True)
            elif isinstance(event, ToolStarted):
                print(f"\n  [tool {event.name} {event.arguments}]", flush=True)
            elif isinstance(event, ToolFinished):
                print(f"  [{event.name}: {event.status}] {event.content[:300]}", flush=True)
                print("assistant> ", end="", flush=True)
            elif isinstance(event, Notice | TurnQueued):
                print(f"\n  [{event.text}]", flush=True)
            elif isinstance(event, AnswerReviewed):
                print(f"\n  ({event.summary})", flush=True)
                for sentence, problem in event.marks:
                    print(f'  ! "{sentence}": {problem}', flush=True)
            elif isinstance(event, TurnFailed):
                print(f"\n[error] {event.message}", file=sys.stderr, flush=True)
            elif isinstance(event, TurnDone):
                print(incomplete_mark(event.incomplete), flush=True)
    except MedAssistError as exc:
        print(f"\n[error] {exc}", file=sys.stderr, flush=True)
