"""Sessions in the side bar: new, reopen, rename, delete for good, and reopen on reload.

The browser remembers its last session id in localStorage (not a secret: the server
checks that the session exists and lists every session anyway), so reloading the page,
or restarting the server, reopens the conversation that was open. Deleting asks first,
then removes the session for good through `Assistant.delete_session` (checkpoints,
uploads, unpacked archives, artefacts, reports), not only from the list.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import gradio as gr

from assistant.service import Assistant
from assistant.sessions import SessionInfo
from tools.errors import MedAssistError, SessionNotFoundError
from ui.access import user_of
from ui.follow import Focus, Follower
from ui.holder import AssistantHolder
from ui.render import ChatMessage, from_messages

__all__ = ["SessionsPanel", "build_sessions_panel", "session_choices", "session_label"]

STORAGE_KEY = "medassist-last-session"
SAVE_JS = f"""(sid) => {{
  if (sid) localStorage.setItem('{STORAGE_KEY}', sid);
  else localStorage.removeItem('{STORAGE_KEY}');
  return [];
}}"""
LOAD_JS = f"() => [localStorage.getItem('{STORAGE_KEY}') || '']"
CSS = (
    "#sessions ul.options li, #sessions ul.options span {white-space: normal !important;"
    " overflow-wrap: anywhere;}"
)
"""Long session titles wrap in the list instead of being cut."""


def session_label(info: SessionInfo) -> str:
    """A list entry: the whole title and when it was last used."""
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.updated))
    return f"{info.title} · {when}"


def session_choices(assistant: Assistant, user: str, limit: int = 100) -> list[tuple[str, str]]:
    """Dropdown entries for the user's sessions, most recent first (the first `limit`)."""
    return [(session_label(s), s.id) for s in assistant.list_sessions(owner=user, limit=limit)]


@dataclass
class SessionsPanel:
    """What app.py wires: the session list and the handlers that switch sessions."""

    sessions: gr.Dropdown
    new_button: gr.Button
    stored: gr.Textbox
    follower: Follower
    """The browser remembers the open session (`stored`, saved by SAVE_JS) as it changes."""


async def _open(
    assistant: Assistant, session_id: str | None, user: str = ""
) -> tuple[str | None, list[ChatMessage]]:
    if not session_id:
        return None, []
    try:
        assistant.open_session(session_id, user)  # someone else's session: "no longer exists"
    except SessionNotFoundError:
        return None, [{"role": "assistant", "content": "⚠️ That session no longer exists."}]
    messages = await assistant.history(session_id)
    chat = from_messages(
        messages,
        assistant.attachments(session_id),
        assistant.session_dir(session_id),
        show_marks=assistant.config.ui.show_marks,
    )
    if assistant.turn_running(session_id):  # its page was closed or reloaded mid-answer
        chat.append({"role": "assistant", "content": STILL_RUNNING})
    return session_id, chat


STILL_RUNNING = (
    "The answer to the last message is still being written. "
    "It will show here when it is done."
)
"""Shown after a session's stored history while a turn of it runs unread."""
WATCH_S = 2.0
"""How often a page showing `STILL_RUNNING` asks whether the answer is done."""


def _waiting(chat: list[Any] | None) -> bool:
    """Whether the chat ends with `STILL_RUNNING` (as shown, or as the page sends it back)."""
    if not chat:
        return False
    content = chat[-1].get("content") if isinstance(chat[-1], dict) else None
    if isinstance(content, list):  # Gradio 6 sends [{"type": "text", "text": ...}]
        content = " ".join(str(c.get("text", "")) for c in content if isinstance(c, dict))
    return content == STILL_RUNNING


def _signed_in(request: gr.Request) -> str:
    user = user_of(request)
    return f"Signed in as **{user}** · only your sessions are listed" if user else ""


def build_sessions_panel(
    holder: AssistantHolder, session_state: gr.State, chatbot: gr.Chatbot, demo: gr.Blocks
) -> SessionsPanel:
    """Add the session controls to the column being built and wire them."""
    signed_in = gr.Markdown("", elem_id="signed-in")
    new_btn = gr.Button("New session", elem_id="new-session")
    sessions = gr.Dropdown(label="Past sessions", choices=[], elem_id="sessions", interactive=True)
    with gr.Accordion("Rename or delete this session", open=False, elem_id="session-manage"):
        title = gr.Textbox(label="Title", elem_id="session-title", max_lines=1)
        with gr.Row():
            rename_btn = gr.Button("Rename", size="sm", elem_id="rename-session")
            delete_btn = gr.Button("Delete…", size="sm", variant="stop", elem_id="delete-session")
        with gr.Group(visible=False, elem_id="delete-confirm") as confirm:
            question = gr.Markdown(elem_id="delete-question")
            with gr.Row():
                yes = gr.Button(
                    "Yes, delete for good", variant="stop", size="sm", elem_id="confirm-delete"
                )
                no = gr.Button("Cancel", size="sm", elem_id="cancel-delete")
        note = gr.Markdown(elem_id="session-note")
    stored = gr.Textbox(
        value="",
        elem_id="stored-session",
        elem_classes=["medassist-hidden"],
        show_label=False,
        container=False,
    )

    def listing(assistant: Assistant, session_id: str | None, user: str) -> Any:
        return gr.update(choices=session_choices(assistant, user), value=session_id)

    def title_of(assistant: Assistant, session_id: str | None) -> str:
        if not session_id:
            return ""
        try:
            return assistant.get_session(session_id).title
        except SessionNotFoundError:
            return ""

    async def new_session(request: gr.Request) -> tuple[Any, ...]:
        assistant = await holder.get()
        user = user_of(request)
        info = assistant.new_session(owner=user)
        return info.id, [], listing(assistant, info.id, user), info.title

    async def open_session(
        session_id: str | None, current: str | None, request: gr.Request
    ) -> tuple[Any, ...]:
        if session_id and session_id == current:
            # Gradio's dropdown also fires `input` on blur; reopening the open session
            # would reload the chat and every panel for nothing.
            return tuple(gr.skip() for _ in opening)
        assistant = await holder.get()
        user = user_of(request)
        opened, chat = await _open(assistant, session_id, user)
        title_ = title_of(assistant, opened)
        return opened, chat, listing(assistant, opened, user), title_, arm(chat)

    async def restore(remembered: str | None, request: gr.Request) -> tuple[Any, ...]:
        """On page load: reopen the session this browser had open, if it still exists."""
        assistant = await holder.get()
        user = user_of(request)
        if not remembered:
            return None, [], listing(assistant, None, user), "", gr.skip()
        opened, chat = await _open(assistant, remembered, user)
        if opened is None:
            chat = []  # a deleted (or another user's) session is simply not reopened
        title_ = title_of(assistant, opened)
        return opened, chat, listing(assistant, opened, user), title_, arm(chat)

    async def rename(session_id: str | None, text: str, request: gr.Request) -> tuple[Any, ...]:
        if not session_id:
            return gr.skip(), "⚠️ Start or open a session first."
        assistant = await holder.get()
        try:
            info = assistant.rename_session(session_id, text)
        except MedAssistError as exc:
            return gr.skip(), f"⚠️ {exc}"
        return listing(assistant, session_id, user_of(request)), f"Renamed to “{info.title}”."

    async def ask(session_id: str | None) -> tuple[Any, ...]:
        if not session_id:
            return gr.update(visible=False), "", "⚠️ No session is open."
        assistant = await holder.get()
        text = (
            f"Delete **{title_of(assistant, session_id)}** and everything in it: the "
            "conversation the model remembers, uploads, results and reports? This cannot "
            "be undone."
        )
        return gr.update(visible=True), text, ""

    async def delete(session_id: str | None, request: gr.Request) -> tuple[Any, ...]:
        assistant = await holder.get()
        done = ""
        if session_id:
            name = title_of(assistant, session_id)
            try:
                await assistant.delete_session(session_id)
                done = f"Deleted “{name}” and its files."
            except MedAssistError as exc:
                done = f"⚠️ {exc}"
        user = user_of(request)
        return None, [], listing(assistant, None, user), "", gr.update(visible=False), done

    # A reopened session whose answer is still being written shows it when it is done.
    watch = gr.Timer(WATCH_S, active=False)

    def arm(chat: list[Any] | None) -> Any:
        return gr.Timer(active=True) if _waiting(chat) else gr.skip()

    async def done_yet(
        session_id: str | None, chat: list[Any] | None, request: gr.Request
    ) -> tuple[Any, Any]:
        if not (session_id and _waiting(chat)):  # another session by now, or nothing to wait for
            return gr.skip(), gr.Timer(active=False)
        assistant = await holder.get()
        if assistant.turn_running(session_id):
            return gr.skip(), gr.skip()
        _, fresh = await _open(assistant, session_id, user_of(request))
        return fresh, gr.Timer(active=False)

    switch = [session_state, chatbot, sessions, title]
    opening = [*switch, watch]  # an opened session still being answered starts the watch
    watch.tick(done_yet, [session_state, chatbot], [chatbot, watch])
    new_btn.click(new_session, None, switch)
    sessions.input(open_session, [sessions, session_state], opening)
    rename_btn.click(rename, [session_state, title], [sessions, note])
    title.submit(rename, [session_state, title], [sessions, note])
    delete_btn.click(ask, session_state, [confirm, question, note])
    no.click(lambda: gr.update(visible=False), None, confirm)
    yes.click(delete, session_state, [*switch, confirm, note])
    stored.change(None, stored, None, js=SAVE_JS)
    demo.load(restore, stored, opening, js=LOAD_JS)
    demo.load(_signed_in, None, signed_in)
    return SessionsPanel(sessions, new_btn, stored, Follower("sessions", [stored], _remember))


async def _remember(focus: Focus) -> tuple[str]:
    return (focus.session_id or "",)
