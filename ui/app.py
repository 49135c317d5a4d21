"""The Gradio chat UI.

One Assistant serves every browser; each browser keeps its own session id in `gr.State`,
so nothing is shared between users but the database.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import gradio as gr
import uvicorn
from fastapi import FastAPI

from assistant.catalog import REGISTRY
from assistant.config import AppConfig, load_profile
from assistant.events import TurnDone
from assistant.service import Assistant
from assistant.sessions import SessionStore
from tools.errors import InputError, SessionNotFoundError
from tools.imaging.uploads import largest_upload
from ui.holder import AssistantHolder
from ui.render import ChatMessage, apply_event, from_messages
from ui.report_panel import build_report_panel
from ui.slide_viewer import region_listener_js, resolver_from_store, slide_router
from ui.viewer_panel import build_viewer_panel

log = logging.getLogger(__name__)
AUTO = "auto"


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
                    placeholder="Ask about an image, or upload one "
                    "(PNG, JPEG, DICOM, a ZIP of a DICOM series, slide) …",
                    file_count="multiple",
                    sources=["upload"],
                    show_label=False,
                )
                viewer_image, refresh_viewer = build_viewer_panel(holder, session_state)
                build_report_panel(holder, session_state)
        box.submit(
            send, [box, chatbot, session_state, tool], [box, chatbot, session_state, sessions]
        )
        new_btn.click(new_session, None, [session_state, chatbot, sessions])
        sessions.input(open_session, sessions, [session_state, chatbot])
        sessions.change(refresh_viewer, session_state, viewer_image)
        demo.load(refresh_sessions, session_state, sessions)
    return demo


class UIServer:
    """The UI's web server (Gradio mounted beside the slide tile routes) in a thread."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        self.url = f"http://{host}:{port}"
        self._server = uvicorn.Server(
            uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
        )
        self._thread = threading.Thread(target=self._server.run, name="medassist-ui", daemon=True)

    def start(self, timeout_s: float = 60.0) -> None:
        """Start serving and wait until the socket accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the UI server did not start on {self.url}")
            time.sleep(0.05)

    def wait(self) -> None:
        """Block until the server stops (Ctrl-C stops it)."""
        try:
            while self._thread.is_alive():
                self._thread.join(0.5)
        except KeyboardInterrupt:
            self.close()

    def close(self) -> None:
        """Stop serving."""
        self._server.should_exit = True
        self._thread.join(10)


def create_app(config: AppConfig) -> FastAPI:
    """The web app: slide tiles and viewer under /slides, the Gradio UI at /."""
    demo = build_app(config)
    demo.queue(default_concurrency_limit=4)
    app = FastAPI(title="MedAssist", docs_url=None, redoc_url=None)
    app.include_router(slide_router(resolver_from_store(SessionStore(config.data_dir))))
    return cast(
        FastAPI,
        gr.mount_gradio_app(
            app,
            demo,
            path="/",
            allowed_paths=[str(config.data_dir / "sessions")],
            max_file_size=largest_upload(config.uploads),
            footer_links=[],
            head=region_listener_js("#message textarea"),
        ),
    )


def launch(
    config: AppConfig, host: str | None = None, port: int | None = None, block: bool = True
) -> UIServer:
    """Serve the UI; loopback and no share link unless configured otherwise."""
    host = host or config.ui.host
    port = port or config.ui.port
    server = UIServer(create_app(config), host, port)
    server.start()
    print(f"MedAssist UI: {server.url}", flush=True)
    if block:
        server.wait()
    return server
