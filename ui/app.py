"""The Gradio chat UI.

One Assistant serves every browser; each browser keeps its own session id in `gr.State`,
so nothing is shared between users but the database.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import gradio as gr

from assistant.config import AppConfig, load_profile
from assistant.errors import InputError, SessionNotFoundError
from assistant.events import TurnDone
from assistant.service import Assistant
from tools.catalog import REGISTRY
from ui.render import ChatMessage, apply_event, from_messages
from ui.report_panel import build_report_panel

log = logging.getLogger(__name__)
AUTO = "auto"


class AssistantHolder:
    """Opens the Assistant lazily inside the UI server's event loop (its DB is loop-bound)."""

    def __init__(self, config: AppConfig, **kwargs: Any) -> None:
        self.config = config
        self.kwargs = kwargs
        self._assistant: Assistant | None = None
        self._lock: asyncio.Lock | None = None

    async def get(self) -> Assistant:
        """The open Assistant."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._assistant is None:
                assistant = Assistant(self.config, **self.kwargs)
                self._assistant = await assistant.__aenter__()
            return self._assistant


def _session_choices(assistant: Assistant) -> list[tuple[str, str]]:
    return [(f"{s.title}  ·  {s.id[:8]}", s.id) for s in assistant.list_sessions()]


def build_app(config: AppConfig, holder: AssistantHolder | None = None) -> gr.Blocks:
    """Build the Blocks app for `config`."""
    holder = holder or AssistantHolder(config)
    profile = load_profile(config.model)
    banner = f"**Model:** {profile.description or profile.name} · server `{config.llm.url}`"
    if profile.test_only:
        banner += "\n\n⚠️ **Test model: its statements about images are meaningless.**"

    async def new_session() -> tuple[str, list[ChatMessage], Any]:
        assistant = await holder.get()
        info = assistant.new_session()
        return info.id, [], gr.update(choices=_session_choices(assistant), value=info.id)

    async def refresh_sessions(session_id: str | None) -> Any:
        assistant = await holder.get()
        return gr.update(choices=_session_choices(assistant), value=session_id)

    async def open_session(session_id: str | None) -> tuple[str | None, list[ChatMessage]]:
        if not session_id:
            return session_id, []
        assistant = await holder.get()
        try:
            assistant.sessions.get(session_id)
        except SessionNotFoundError:
            return None, [{"role": "assistant", "content": "⚠️ That session no longer exists."}]
        messages = await assistant.history(session_id)
        return session_id, from_messages(
            messages,
            assistant.sessions.attachments(session_id),
            assistant.sessions.session_dir(session_id),
        )

    async def send(
        message: dict[str, Any], history: list[ChatMessage], session_id: str | None, tool: str
    ) -> AsyncIterator[tuple[Any, list[ChatMessage], str | None, Any]]:
        assistant = await holder.get()
        if not session_id:
            session_id = assistant.new_session().id
        history = list(history or [])
        text = (message or {}).get("text", "") or ""
        ids: list[str] = []
        for path in (message or {}).get("files", []) or []:
            file_path = Path(path if isinstance(path, str) else path["path"])
            try:
                att = assistant.add_upload(session_id, file_path, file_path.name)
            except InputError as exc:
                history.append({"role": "assistant", "content": f"⚠️ Upload refused: {exc}"})
                continue
            ids.append(att.id)
            if att.media_type.startswith("image/"):
                history.append(
                    {"role": "user", "content": {"path": str(att.path), "alt_text": att.name}}
                )
            else:
                history.append({"role": "user", "content": f"📎 {att.name} ({att.id})"})
        if not text.strip() and not ids:
            yield gr.update(value=None), history, session_id, gr.skip()
            return
        if text.strip():
            history.append({"role": "user", "content": text})
        yield gr.update(value=None, interactive=False), history, session_id, gr.skip()
        session_dir = assistant.sessions.session_dir(session_id)
        force = None if tool == AUTO else tool
        async for event in assistant.run_turn(session_id, text, ids, force_tool=force):
            if isinstance(event, TurnDone):
                break
            apply_event(history, event, session_dir)
            yield gr.skip(), history, session_id, gr.skip()
        yield (
            gr.update(value=None, interactive=True),
            history,
            session_id,
            gr.update(choices=_session_choices(assistant), value=session_id),
        )

    demo = gr.Blocks(title="MedAssist")
    with demo:
        session_state = gr.State(None)
        with gr.Row():
            with gr.Column(scale=1, min_width=240):
                gr.Markdown("### MedAssist")
                new_btn = gr.Button("New session", elem_id="new-session")
                sessions = gr.Dropdown(
                    label="Past sessions", choices=[], elem_id="sessions", interactive=True
                )
                tool = gr.Dropdown(
                    label="Tool for the next message",
                    choices=[AUTO, *REGISTRY.names],
                    value=AUTO,
                    elem_id="tool-choice",
                    info="auto lets the model decide",
                )
                gr.Markdown(banner)
            with gr.Column(scale=4):
                chatbot = gr.Chatbot(
                    elem_id="chat", height=560, label="Consultation", buttons=["copy"]
                )
                box = gr.MultimodalTextbox(
                    elem_id="message",
                    placeholder="Ask about an image, or upload one (PNG, JPEG, DICOM, slide) …",
                    file_count="multiple",
                    sources=["upload"],
                    show_label=False,
                )
                build_report_panel(holder, session_state)
        box.submit(
            send, [box, chatbot, session_state, tool], [box, chatbot, session_state, sessions]
        )
        new_btn.click(new_session, None, [session_state, chatbot, sessions])
        sessions.input(open_session, sessions, [session_state, chatbot])
        demo.load(refresh_sessions, session_state, sessions)
    return demo


def launch(
    config: AppConfig, host: str | None = None, port: int | None = None, block: bool = True
) -> gr.Blocks:
    """Serve the UI; loopback and no share link unless configured otherwise."""
    demo = build_app(config)
    demo.queue(default_concurrency_limit=4)
    host = host or config.ui.host
    port = port or config.ui.port
    print(f"MedAssist UI: http://{host}:{port}", flush=True)
    demo.launch(
        server_name=host,
        server_port=port,
        share=config.ui.share,
        allowed_paths=[str(config.data_dir / "sessions")],
        max_file_size=config.uploads.max_bytes,
        prevent_thread_lock=not block,
        footer_links=[],
        quiet=True,
    )
    return demo
