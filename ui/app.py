"""The Gradio chat UI.

One Assistant serves every browser; each browser keeps its own session id in `gr.State`,
so nothing is shared between users but the database.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Collection
from functools import partial
from pathlib import Path
from typing import Any, cast

import gradio as gr
import uvicorn
from fastapi import FastAPI, Request

from assistant.accounts import check_exposure
from assistant.catalog import REGISTRY
from assistant.config import AppConfig, load_profile
from assistant.events import Token, TurnDone
from assistant.report import available_templates
from assistant.service import Assistant
from assistant.starts import Admitted
from tools.attachments import Attachment
from tools.errors import InputError
from tools.imaging.uploads import largest_upload
from ui.access import Access, AccessMiddleware, user_of
from ui.drawn import drawn_region
from ui.follow import Focus, Follower, follow
from ui.holder import AssistantHolder
from ui.image_viewer import image_router, measured_listener_js
from ui.pacing import FramePacer
from ui.pacs_panel import build_pacs_panel
from ui.page_chat import for_page
from ui.quick_actions import newest, report_template
from ui.render import ChatMessage, apply_event, image_message, shown_inline
from ui.report_panel import build_report_panel
from ui.sessions_panel import CSS as SESSIONS_CSS
from ui.sessions_panel import build_sessions_panel, session_choices
from ui.slide_viewer import region_listener_js, resolve_slide, slide_router
from ui.tools_panel import build_tools_panel
from ui.upload_limits import UploadLimitMiddleware
from ui.viewer_panel import build_viewer_panel
from ui.welcome import tool_choices, welcome_markdown

__all__ = ["build_app", "create_app", "drawn_region", "launch"]

log = logging.getLogger(__name__)
AUTO = "auto"
UI_FRAME_S = 0.1
"""Shortest time between two chat updates while an answer streams in (10 per second);
longer when many answers stream at once (`ui.stream_updates_per_s`, `ui.pacing`)."""
BUSY_JS = """(...inputs) => {
  const root = document.querySelector('#message');
  const busy = [...root.querySelectorAll('textarea, button, input')].filter(e => !e.disabled);
  // The box's own updates (its value cleared) re-enable the text area: hold it disabled.
  const hold = () => busy.forEach(e => { if (!e.disabled) e.disabled = true; });
  hold();
  if (window.medassistHold) window.medassistHold.disconnect();
  window.medassistHold = new MutationObserver(hold);
  const watched = {attributes: true, subtree: true, attributeFilter: ['disabled']};
  window.medassistHold.observe(root, watched);
  window.medassistBusy = busy;
  return inputs;
}"""
"""Runs in the browser as a message is sent: the box takes no second message meanwhile."""
IDLE_JS = """() => {
  if (window.medassistHold) window.medassistHold.disconnect();
  (window.medassistBusy || []).forEach(e => { e.disabled = false; });
  window.medassistHold = null;
  window.medassistBusy = [];
}"""
"""Runs in the browser when the turn's handler has ended, however it ended."""
SEND_FAILED = (
    "⚠️ Something went wrong on the server while handling this message (it is logged). "
    "What was stored is kept: reload the session to see it. A message that was not sent "
    "is back in the box; attach its files again."
)
_STATIC_DIRS: set[Path] = set()
"""Session folders already given to `gr.set_static_paths` by this process."""
CSS = (
    "<style>.medassist-hidden{display:none !important}"
    # Pictures in the chat (Markdown, `ui.render.image_message`) at a thumbnail's height.
    "#chat .message-content .md img{max-height:320px;width:auto;max-width:100%}"
    + SESSIONS_CSS
    + "</style>"
)


def build_app(config: AppConfig, holder: AssistantHolder) -> gr.Blocks:
    """Build the Blocks app for `config`; every handler talks to the holder's Assistant."""
    profile = load_profile(config.model)
    banner = f"**Model:** {profile.description or profile.name} · server `{config.llm.url}`"
    pacer = FramePacer(config.ui.stream_updates_per_s, UI_FRAME_S)
    if profile.test_only:
        banner += "\n\n⚠️ **Test model: its statements about images are meaningless.**"

    async def send(
        message: dict[str, Any],
        history: list[ChatMessage],
        session_id: str | None,
        tool: str,
        region_json: str,
        request: gr.Request,
        listed: str | None = None,
    ) -> AsyncIterator[tuple[Any, ...]]:
        """`updates`; a bug in them ends the turn with a notice.

        Never an exception to Gradio: the page would show its text (which may name a
        file) and the message box would stay locked.
        """
        last: tuple[Any, ...] | None = None
        admitted: Admitted | None = None
        try:
            assistant = await holder.get()
            # The turn's place at the start gate (`assistant.starts`) covers storing its
            # uploads too; the turn gives it back as its model request leaves.
            admitted = await assistant.starts.enter()
            async for update in updates(
                assistant, admitted, message, history, session_id, tool, region_json,
                user_of(request), listed,
            ):  # fmt: skip
                last = update
                yield _shown(update)
        except Exception:
            log.exception("the chat handler failed in session %s", session_id)
            if last is None:  # nothing shown yet: the message goes back into the box
                text = (message or {}).get("text", "") or ""
                last = ({"text": text, "files": []}, list(history or []), session_id,
                        listed, tool, region_json, gr.skip())  # fmt: skip
            shown = list(last[1])
            shown.append({"role": "assistant", "content": SEND_FAILED})
            yield _shown((last[0], shown, *last[2:]))
        finally:
            if admitted is not None:
                admitted.release()

    async def updates(
        assistant: Assistant,
        admitted: Admitted,
        message: dict[str, Any],
        history: list[ChatMessage],
        session_id: str | None,
        tool: str,
        region_json: str,
        user: str,
        listed: str | None,
    ) -> AsyncIterator[tuple[Any, ...]]:
        """Store the uploads, run the turn, stream the answer into the chat.

        Outputs the page already shows are given back as they are (`listed`, `tool`), not
        as `gr.skip()`: Gradio rebuilds a component and its configuration for every
        `gr.update`/`gr.skip()` output of every streamed update, a plain value costs a
        tenth of that, and an unchanged one sends nothing to the browser.
        """
        started = not session_id
        if not session_id:
            session_id = assistant.new_session(owner=user).id
        history = list(history or [])
        text = (message or {}).get("text", "") or ""
        ids: list[str] = []
        refused: list[str] = []
        for path in (message or {}).get("files", []) or []:
            file_path = Path(path if isinstance(path, str) else path["path"])
            try:
                att = await assistant.aadd_upload(session_id, file_path, file_path.name)
            except InputError as exc:
                refused.append(str(exc))
                continue
            finally:  # Gradio's copy (under the original name) goes once stored or refused
                _discard_received(file_path, config)
            ids.append(att.id)
            if shown_inline(att):
                history.append(image_message("user", att.path, att.name))
            else:
                history.append({"role": "user", "content": f"📎 {att.name} ({att.id})"})
        # The panels follow the newest upload as soon as it is stored (`ui.follow`): a new
        # session by its id's change, an open one by `attached`.
        attached = f"{session_id}/{' '.join(ids)}" if ids and not started else gr.skip()
        if refused or not (text.strip() or ids):
            admitted.release()  # no turn: the next one may start
        if refused:  # its own notice; the turn does not run on a refused file
            notice = "⚠️ Upload refused, nothing was sent to the assistant:\n" + "\n".join(
                f"- {r}" for r in refused
            )
            history.append({"role": "assistant", "content": notice})
            if text.strip():
                history.append(
                    {
                        "role": "assistant",
                        "content": "Your message is still in the box: "
                        "remove or replace the file, then send it again.",
                    }
                )
            yield ({"text": text, "files": []}, history, session_id, listed, tool, "", attached)
            return
        if not text.strip() and not ids:
            yield (None, history, session_id, listed, tool, "", attached)
            return
        if text.strip():
            history.append({"role": "user", "content": text})
        # A turn changes the session list exactly when it changes its first entry (a new
        # or renamed session, one moved to the top, a later minute): one row is compared,
        # and the whole list read and sent again only then.
        top = session_choices(assistant, user, limit=1)
        force = None if tool == AUTO else tool
        region = drawn_region(region_json)
        session_dir = assistant.session_dir(session_id)
        # The turn starts now, its model request on its way while Gradio sends the message
        # to the page and the page's panels follow the new session and image (first in the
        # queue, they held twenty turns' model requests back: benchmarks/bench_load.py).
        # Were the page gone meanwhile, the turn goes on unread and is stored.
        events = assistant.start_turn(
            session_id, text, ids, force_tool=force, region=region, admitted=admitted
        )
        # The message is shown once no turn is still preparing its model request (at once
        # for one person; under a burst of turns, `STARTING_WAIT_S` at most): showing it makes
        # the page fetch its picture and follow the new session, work that would hold the
        # other turns' requests back (BENCHMARKS.md, "start gate").
        await assistant.starts.quiet(STARTING_WAIT_S)
        # The box was disabled in the browser as the message left (BUSY_JS), and is enabled
        # again when this handler ends (IDLE_JS): no property update on every turn.
        yield (None, history, session_id, listed, tool, "", attached)
        try:
            shown_at = 0.0
            with pacer.turn():
                async with contextlib.aclosing(events) as turn:
                    async for event in turn:
                        apply_event(history, event, session_dir, config.ui.show_marks)
                        if isinstance(event, TurnDone):
                            break
                        # Tokens are shown in steps (each update re-sends the chat, and
                        # per-token updates of twenty chats starve a CPU-bound model server).
                        now = time.monotonic()
                        if isinstance(event, Token) and now - shown_at < pacer.interval_s():
                            continue
                        shown_at = now
                        yield (None, history, session_id, listed, tool, "", attached)
        except Exception:  # a bug in the UI itself: say so, keep the box usable
            log.exception("the chat handler failed in session %s", session_id)
            history.append(
                {
                    "role": "assistant",
                    "content": "⚠️ The interface failed to show this turn "
                    "(logged). Reload the session to see what was stored.",
                }
            )
        # The tool resets to auto; the session list is sent again only when the turn
        # changed it.
        shown: Any = listed
        if session_choices(assistant, user, limit=1) != top:
            shown = gr.update(choices=session_choices(assistant, user), value=session_id)
        yield (None, history, session_id, shown, AUTO, "", attached)

    demo = gr.Blocks(title="MedAssist", analytics_enabled=False)
    with demo:
        session_state = gr.State(None)
        with gr.Row():
            with gr.Column(scale=1, min_width=260):
                gr.Markdown("### MedAssist")
                chatbot = gr.Chatbot(
                    elem_id="chat", height=560, label="Consultation", buttons=["copy"],
                    placeholder=welcome_markdown(profile, REGISTRY), render=False,
                )  # fmt: skip
                side = build_sessions_panel(holder, session_state, chatbot, demo)
                tool = gr.Dropdown(
                    label="Tool for the next message",
                    choices=tool_choices(REGISTRY),
                    value=AUTO,
                    elem_id="tool-choice",
                    info="auto lets the model decide",
                )
                gr.Markdown(banner)
            with gr.Column(scale=4):
                cast(Any, chatbot).render()  # placed here, built first for the side bar
                box = gr.MultimodalTextbox(
                    elem_id="message",
                    placeholder="Ask about an image, or upload one "
                    "(PNG, JPEG, DICOM, a ZIP of a DICOM series, slide) …",
                    file_count="multiple",
                    sources=["upload"],
                    show_label=False,
                )
                # The slide viewer writes a drawn box here as JSON; sent with the message.
                region = gr.Textbox(
                    value="", elem_id="drawn-region", elem_classes=["medassist-hidden"],
                    show_label=False, container=False,
                )  # fmt: skip
                tools = build_tools_panel(holder, session_state, chatbot, region, demo)
                viewer = build_viewer_panel(holder, session_state, chatbot)
                template, report = build_report_panel(holder, session_state)
                tools.template.append(template)
                pacs = build_pacs_panel(holder, session_state)
        # The inputs reach `send` as the page sent them (`preprocess=False`): the message
        # with its files' stored paths (checked to be uploads by Gradio all the same), the
        # chat as message dicts whose content is a list of parts. Gradio's preprocessing
        # adds nothing `send` needs, and runs each input in a worker thread, which waits
        # for the event loop's lock: with twenty messages at once it held the follow-up's
        # model requests back by about 0.1 s (BENCHMARKS.md, "preprocess=False").
        # Its outputs leave as the page receives them (`postprocess=False`): the chat by
        # `ui.page_chat`, the other values already in their components' form.
        box.submit(
            send,
            [box, chatbot, session_state, tool, region, side.sessions],
            [box, chatbot, session_state, side.sessions, tool, region, pacs.attached],
            api_name="send",
            js=BUSY_JS,
            preprocess=False,
            postprocess=False,
        ).then(None, None, None, js=IDLE_JS)  # success or not: the box is usable again
        # One event brings every panel to a new or reopened session, or its new uploads.
        chosen_template = Follower(
            "template", [template], partial(newest_template, set(available_templates()))
        )
        followers = [side.follower, tools.follower, viewer, chosen_template, report, pacs.follower]
        triggers = [session_state.change, pacs.attached.change]
        follow(followers, session_state, triggers, partial(uploads, holder),
               partial(turns_started, holder))  # fmt: skip
        # The person picking another image in the tools panel (not the panel following).
        tools.image.input(partial(default_template, holder), [session_state, tools.image], template)
    return demo


def _shown(update: tuple[Any, ...]) -> tuple[Any, ...]:
    """A send update in the page's form: the box's value, the chat (`ui.page_chat`).

    The box emptied (`None`) as its postprocessing gives it. New objects each time: Gradio
    keeps the last update to send only what changed, and the handler goes on editing its own.
    """
    box = {"text": "", "files": []} if update[0] is None else update[0]
    return (box, for_page(update[1]), *update[2:])


async def default_template(
    holder: AssistantHolder, session_id: str | None, image_id: str | None
) -> Any:
    """The report template that fits the chosen image (the person can still change it)."""
    if not (session_id and image_id):
        return gr.skip()
    assistant = await holder.get()
    return _fitting(assistant.attachments(session_id).get(image_id), available_templates())


STARTING_WAIT_S = 1.0
"""The longest page work waits while turns are starting (`assistant.starts`): a sent
message shown in the chat, the panels following a session."""


async def turns_started(holder: AssistantHolder) -> None:
    """Until no turn is waiting to send its model request (`STARTING_WAIT_S` at most)."""
    await (await holder.get()).starts.quiet(STARTING_WAIT_S)


async def uploads(holder: AssistantHolder, session_id: str) -> dict[str, Attachment]:
    """A session's uploads, read once for every panel that follows it."""
    return (await holder.get()).attachments(session_id)


async def newest_template(known: Collection[str], focus: Focus) -> tuple[Any]:
    """The template that fits the session's newest upload, as the tools panel chooses it."""
    return (_fitting(newest(list(focus.attachments.values())), known),)


def _fitting(attachment: Attachment | None, known: Collection[str]) -> Any:
    """The name of the template that fits an upload, or no change where none is installed."""
    name = report_template(attachment)
    return name if name in known else gr.skip()


SHUTDOWN_GRACE_S = 5
"""Seconds a stopping server waits for open connections before closing them."""
NO_EVENT_SUMMARY = 2**62
"""Gradio's `GRADIO_ANALYTICS_CACHE_FREQUENCY`: events between two summaries, i.e. never."""


class UIServer:
    """The UI's web server (Gradio mounted beside the slide tile routes) in a thread."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        self.url = f"http://{host}:{port}"
        self._server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=host,
                port=port,
                log_level="warning",
                lifespan="on",
                # Open browser connections (event streams) must not hold up a stop: after
                # this many seconds they are closed and the lifespan closes the Assistant.
                timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
            )
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
        """Stop serving, and wait until the Assistant is closed (its database included).

        Without the wait, a process that exits while the lifespan is still closing would
        hang on the checkpointer's database thread.
        """
        self._server.should_exit = True
        self._thread.join(SHUTDOWN_GRACE_S + 60)
        if self._thread.is_alive():
            log.warning("the UI server did not stop within %s s", SHUTDOWN_GRACE_S + 60)


def received_dir(config: AppConfig) -> Path:
    """Where Gradio writes uploads as they arrive: inside the data directory, not /tmp."""
    return config.data_dir / "received"


def _discard_received(path: Path, config: AppConfig) -> None:
    """Delete Gradio's copy of an upload (it may carry the original, identifying name)."""
    try:
        path.resolve().relative_to(received_dir(config).resolve())
    except ValueError:
        return  # not ours to delete (e.g. a path given by a test or another front end)
    path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        path.parent.rmdir()  # Gradio keeps each upload in a folder of its own


def create_app(config: AppConfig, holder: AssistantHolder | None = None) -> FastAPI:
    """The web app: slides under /slides, the image viewer under /viewer, the Gradio UI at /.

    The Assistant lives as long as the app: opened by its lifespan, closed on shutdown.
    Gradio receives uploads into `received_dir` (its GRADIO_TEMP_DIR, which Gradio reads
    when the app is built), and each is deleted there as soon as it is stored or refused.
    """
    os.environ["GRADIO_TEMP_DIR"] = str(received_dir(config))
    # Gradio summarises its past events for a monitoring dashboard this app does not serve,
    # on every finished event: a pandas table of up to 10,000 events, grouped by function,
    # in a worker thread holding the GIL (2 ms at a hundred events, 8 ms at ten thousand;
    # benchmarks/bench_load.py). Read when the queue is built (`demo.queue` below).
    os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", str(NO_EVENT_SUMMARY))
    # Gradio's usage telemetry (api.gradio.app, huggingface.co) and its version check on
    # PyPI: a hospital's app asks no one outside for anything. Read at each call.
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    # Files of sessions (uploads shown in the chat, overlays, renders, exports) are served
    # from the session folder, not copied into Gradio's cache: a copy there would outlive
    # the session's deletion and be reachable without the per-user check.
    # Gradio checks every file of every streamed update against each static path (two
    # path resolutions apiece) and keeps adding to one process-wide list: each folder once.
    sessions_dir = (config.data_dir / "sessions").resolve()
    if sessions_dir not in _STATIC_DIRS:
        gr.set_static_paths([sessions_dir])
        _STATIC_DIRS.add(sessions_dir)
    holder = holder or AssistantHolder(config)
    demo = build_app(config, holder)
    demo.queue(default_concurrency_limit=config.ui.concurrent_turns)
    app = FastAPI(title="MedAssist", docs_url=None, redoc_url=None, lifespan=holder.lifespan)
    app.include_router(
        slide_router(
            lambda sid, iid: resolve_slide(holder.current, sid, iid), layers_prefix="/viewer"
        )
    )
    app.include_router(image_router(holder.get))

    # Added first, so it runs inside the access check: refuses oversized files as they come.
    app.add_middleware(UploadLimitMiddleware, limits=config.uploads)
    access = Access(config.auth, config.data_dir / "sessions", lambda: holder.current)
    app.add_middleware(AccessMiddleware, access=access)

    def gradio_user(request: Request) -> str | None:
        return access.user(dict(request.headers))

    return cast(
        FastAPI,
        gr.mount_gradio_app(
            app,
            demo,
            path="/",
            allowed_paths=[str(config.data_dir / "sessions")],
            max_file_size=largest_upload(config.uploads),
            footer_links=[],
            head=region_listener_js("#message textarea", "#drawn-region textarea")
            + measured_listener_js("#measured textarea")
            + CSS,
            auth_dependency=gradio_user if access.enabled else None,
        ),
    )


def launch(
    config: AppConfig, host: str | None = None, port: int | None = None, block: bool = True
) -> UIServer:
    """Serve the UI; loopback and no share link unless configured otherwise."""
    host = host or config.ui.host
    port = port or config.ui.port
    check_exposure(config.auth, host)
    server = UIServer(create_app(config), host, port)
    server.start()
    print(f"MedAssist UI: {server.url}", flush=True)
    if block:
        server.wait()
    return server
