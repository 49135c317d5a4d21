"""The assistant as the UI and CLI use it: sessions, uploads and streamed turns."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage

from assistant.audit import AuditAction, AuditSink, open_audit
from assistant.catalog import REGISTRY
from assistant.checkpoints import open_checkpointer
from assistant.config import AppConfig, ModelProfile, load_profile
from assistant.database import Database
from assistant.deid_secret import deid_secret
from assistant.detached import DetachedTurns
from assistant.events import STREAMED, TurnDone, TurnEvent, TurnFailed, TurnQueued
from assistant.graph import build_graph
from assistant.limits import TurnLimiter
from assistant.llm import INCOMPLETE_KEY, ChatModel, OpenAIChatModel
from assistant.messages import ATTACHMENTS_KEY, DIRECT_TOOL_KEY
from assistant.overlays import Layer, segment_layers
from assistant.regions import ZOOM_TOOL, DrawnRegion, region_call
from assistant.report import (
    DraftReport,
    FollowupAnswer,
    ReportFiles,
    ReportStatus,
    ReportStore,
    answer_followup,
    draft_report,
    related_passages,
)
from assistant.sessions import ReportEntry, SessionInfo, SessionStore, UploadCheck
from assistant.starts import Admitted, StartGate, announcing
from assistant.state import AgentContext
from retrieval.tool import KnowledgeSource, close_knowledge_bases
from tools.attachments import Attachment, ImageClass
from tools.errors import InputError, MedAssistError, SessionNotFoundError
from tools.imaging.classify import classify_upload
from tools.imaging.deid import safe_display_name, session_key
from tools.imaging.pyramid import Plane, PlaneCache, load_plane
from tools.imaging.uploads import largest_upload
from tools.imaging.windowing import Window, WindowPreset
from tools.intake import inspect_upload as default_check
from tools.intake import view_png
from tools.registry import Registry

log = logging.getLogger(__name__)


class Assistant:
    """One running assistant: a model client, the agent graph with its checkpointer, sessions."""

    def __init__(
        self,
        config: AppConfig,
        *,
        model: ChatModel | None = None,
        profile: ModelProfile | None = None,
        registry: Registry = REGISTRY,
        check_upload: UploadCheck | None = None,
        tool_deps: Sequence[object] = (),
    ) -> None:
        self.config = config
        self.profile = profile or load_profile(config.model)
        self.model: ChatModel = model or OpenAIChatModel(
            config.llm.url,
            self.profile.served_name,
            api_key=config.llm.api_key,
            timeout_s=config.llm.timeout_s,
            connect_timeout_s=config.llm.connect_timeout_s,
            max_retries=config.llm.max_retries,
        )
        self.registry = registry
        self.tool_deps: tuple[object, ...] = (
            *tool_deps,
            config.segmentation,
            config.slides,
            KnowledgeSource(config.knowledge.dir, config.retrieval),
        )
        self.database = Database(
            config.storage.url,
            config.data_dir / "sessions.sqlite",
            pool_size=config.storage.pool_size,
        )
        self.sessions = SessionStore(
            config.data_dir,
            check_upload or partial(default_check, limits=config.uploads, classify=classify_upload),
            self._display_name,
            max_bytes=largest_upload(config.uploads),
            database=self.database,
        )
        self._saver_cm: Any = None
        self._graph: Any = None
        self._deid_secret = deid_secret(config.privacy, config.data_dir)
        self.audit: AuditSink = open_audit(config, self.database)
        self._planes = PlaneCache()
        self.limiter = TurnLimiter(
            config.agent.concurrent_turns, config.agent.concurrent_turns_per_user
        )
        self._runs = DetachedTurns()
        self.starts = StartGate(config.agent.starting_turns)

    def _record(
        self, action: AuditAction, session_id: str, detail: str = "", owner: str | None = None
    ) -> None:
        """Audit an action on a session, in the name of the session's owner.

        Once the UI has accounts only the owner can act on a session; "" without them.
        """
        if owner is None:  # look it up unless the caller has just read the session
            try:
                owner = self.sessions.get(session_id).owner
            except SessionNotFoundError:
                owner = ""
        self.audit.record(owner, action, session_id, detail)

    def deid_key(self, session_id: str) -> str:
        """The session's de-identification key (pseudonyms, UID remaps, date shifts)."""
        return session_key(session_id, self._deid_secret)

    def _display_name(
        self, session_id: str, name: str, media_type: str, modality: str | None
    ) -> str:
        key = self.deid_key(session_id)
        keep = self.config.privacy.keep_upload_names
        return safe_display_name(name, media_type, key, keep_stem=keep, modality=modality)

    async def __aenter__(self) -> Assistant:
        self._saver_cm = open_checkpointer(self.config.storage, self.config.data_dir)
        saver = await self._saver_cm.__aenter__()
        self._graph = build_graph(saver)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._runs.aclose()  # turns still running unread end here
        if self._saver_cm is not None:
            await self._saver_cm.__aexit__(None, None, None)
        self.database.close()
        close_knowledge_bases()
        close = getattr(self.model, "close", None)
        if close is not None:
            await close()

    @property
    def graph(self) -> Any:
        """The compiled graph (available inside `async with`)."""
        if self._graph is None:
            raise RuntimeError("use the Assistant inside `async with`")
        return self._graph

    def new_session(self, title: str = "New consultation", owner: str = "") -> SessionInfo:
        """Start a new session belonging to `owner` ("" without accounts)."""
        info = self.sessions.create(title, owner)
        self.audit.record(owner, "new", info.id)
        return info

    def open_session(self, session_id: str, owner: str) -> SessionInfo:
        """The session `owner` opens (audited); SessionNotFoundError if it is not theirs."""
        try:
            info = self.sessions.get(session_id, owner)
        except SessionNotFoundError:
            self.audit.record(owner, "refused", session_id, "open: not this user's session")
            raise
        self.audit.record(owner, "open", session_id)
        return info

    def list_sessions(self, owner: str | None = None, limit: int = 100) -> list[SessionInfo]:
        """Known sessions, most recent first, at most `limit` (only `owner`'s when given)."""
        return self.sessions.list(limit=limit, owner=owner)

    def get_session(self, session_id: str, owner: str | None = None) -> SessionInfo:
        """One session's catalogue entry.

        SessionNotFoundError if there is none, or if `owner` is given and it is someone else's.
        """
        return self.sessions.get(session_id, owner)

    def attachments(self, session_id: str) -> dict[str, Attachment]:
        """The session's uploads by id, in upload order."""
        return self.sessions.attachments(session_id)

    def session_dir(self, session_id: str) -> Path:
        """Folder of the session's files (uploads, artefacts, reports)."""
        return self.sessions.session_dir(session_id)

    def rename_session(self, session_id: str, title: str) -> SessionInfo:
        """Give the session the person's title."""
        info = self.sessions.rename(session_id, title)
        self._record("rename", session_id, owner=info.owner)
        return info

    async def delete_session(self, session_id: str) -> None:
        """Delete a session for good, not just hide it.

        First its checkpoints (what the model remembers), then its catalogue rows and
        folder (uploads, unpacked archives, artefacts, reports).
        """
        info = self.sessions.get(session_id)
        self._record("delete", session_id, owner=info.owner)
        await self.graph.checkpointer.adelete_thread(session_id)
        await asyncio.to_thread(self.sessions.delete, session_id)
        self._planes.drop(lambda key: isinstance(key, tuple) and key[0] == session_id)

    def set_image_class(
        self, session_id: str, image_id: str, image_class: ImageClass
    ) -> Attachment:
        """Store the person's correction of what an upload shows; tools and forms follow it."""
        att = self.sessions.attachments(session_id).get(image_id)
        if att is None:
            raise SessionNotFoundError(f"no upload {image_id!r} in session {session_id!r}")
        facts = att.facts.model_copy(
            update={"image_class": image_class, "image_class_by": "person"}
        )
        return self.sessions.update_facts(session_id, image_id, facts)

    def add_upload(self, session_id: str, path: Path, name: str | None = None) -> Attachment:
        """Validate and store an uploaded file for the session (blocking: see aadd_upload)."""
        att = self.sessions.add_upload(session_id, path, name)
        self._record("upload", session_id, f"{att.id} {att.kind.value}")
        return att

    async def aview(
        self,
        session_id: str,
        image_id: str,
        window: WindowPreset | Window = "auto",
        frame: int | None = None,
    ) -> tuple[Attachment, bytes, str]:
        """The attachment, a PNG of one frame (0-based) in `window`, and its caption.

        Rendered off the event loop. InputError for an unknown image or a slide (slides are
        navigated in the slide viewer).
        """
        att = self.attachments(session_id).get(image_id)
        if att is None:
            raise InputError(f"there is no image {image_id!r} in this session")
        png, caption = await asyncio.to_thread(view_png, att, window=window, frame=frame)
        return att, png, caption

    async def aplane(self, session_id: str, image_id: str, frame: int | None = None) -> Plane:
        """One frame (0-based; None: the one shown first) of an image, for the viewer's tiles.

        Decoded off the event loop and kept for the next tiles, windows and probes.
        InputError for an unknown image or a slide; ToolArgumentError for a missing frame.
        """
        att = self.attachments(session_id).get(image_id)
        if att is None:
            raise InputError(f"there is no image {image_id!r} in this session")
        index = att.facts.default_frame if frame is None else frame
        key = (session_id, image_id, index)
        key_ = self.deid_key(session_id)
        return await asyncio.to_thread(self._planes.get, key, partial(load_plane, att, index, key_))

    async def aadd_upload(self, session_id: str, path: Path, name: str | None = None) -> Attachment:
        """`add_upload` off the event loop: checking a ZIP can unpack gigabytes."""
        return await asyncio.to_thread(self.add_upload, session_id, path, name)

    async def history(self, session_id: str) -> list[AnyMessage]:
        """The stored conversation of a session."""
        snapshot = await self.graph.aget_state({"configurable": {"thread_id": session_id}})
        return list(snapshot.values.get("messages", []))

    async def layers(self, session_id: str, image_id: str) -> list[Layer]:
        """The image's segmentation layers (from this session's `segment` results)."""
        att = self.attachments(session_id).get(image_id)
        if att is None:
            raise InputError(f"there is no image {image_id!r} in this session")
        return segment_layers(await self.history(session_id), att, self.session_dir(session_id))

    def _context(self, session_id: str) -> AgentContext:
        attachments = self.sessions.attachments(session_id)
        slides = any(a.kind.is_slide for a in attachments.values())
        agent = self.config.agent
        return AgentContext(
            model=self.model,
            profile=self.profile,
            registry=self.registry,
            session_id=session_id,
            session_dir=self.sessions.session_dir(session_id),
            attachments=attachments,
            max_steps=agent.slide_max_steps if slides else agent.max_steps,
            history_messages=self.config.agent.history_messages,
            deid_key=self.deid_key(session_id),
            tool_deps=self.tool_deps,
        )

    def reports(self, session_id: str) -> ReportStore:
        """The session's reports (persistence lives in assistant/report/store.py)."""
        self.sessions.get(session_id)
        folder = self.sessions.session_dir(session_id) / "reports"
        index = _ReportIndex(self.sessions, session_id)
        return ReportStore(folder, subject=f"session/{session_id}", index=index)

    async def draft_report(self, session_id: str, template: str) -> DraftReport:
        """Draft a cited report from the session's evidence and related passages; keep it."""
        store = self.reports(session_id)
        knowledge = next((d for d in self.tool_deps if isinstance(d, KnowledgeSource)), None)
        report = await draft_report(
            self.model,
            template,
            await self.history(session_id),
            attachments=self.sessions.attachments(session_id).values(),
            search=partial(related_passages, knowledge),
            max_tokens=self.profile.sampling.max_tokens * 4,
        )
        await asyncio.to_thread(store.save, report)
        self._record("draft_report", session_id, report.id)
        return report

    def save_report(
        self,
        session_id: str,
        report_id: str,
        markdown: str,
        *,
        status: ReportStatus | None = None,
    ) -> tuple[DraftReport, ReportFiles]:
        """Save the person's edited Markdown (and status) as a new version; re-export."""
        saved = self.reports(session_id).edit(report_id, markdown, status=status)
        report = saved[0]
        self._record("save_report", session_id, f"{report_id} v{report.version} {report.status}")
        return saved

    async def asave_report(
        self,
        session_id: str,
        report_id: str,
        markdown: str,
        *,
        status: ReportStatus | None = None,
    ) -> tuple[DraftReport, ReportFiles]:
        """`save_report` off the event loop (it re-renders and writes the exports)."""
        return await asyncio.to_thread(
            partial(self.save_report, session_id, report_id, markdown, status=status)
        )

    def load_report(self, session_id: str, report_id: str) -> DraftReport:
        """The current version of a stored report of the session."""
        return self.reports(session_id).load(report_id)

    def list_reports(self, session_id: str) -> list[DraftReport]:
        """The session's reports, newest first."""
        return self.reports(session_id).newest_first()

    def report_files(self, session_id: str, report_id: str) -> ReportFiles:
        """Where a report's JSON, Markdown and FHIR files are."""
        return self.reports(session_id).files(report_id)

    async def ask_about_report(
        self, session_id: str, report_id: str, question: str
    ) -> FollowupAnswer:
        """Answer a question about a report, quoting the evidence its sentence cites."""
        report = self.load_report(session_id, report_id)
        return await answer_followup(
            self.model, report, question, max_tokens=self.profile.sampling.max_tokens
        )

    def turn_running(self, session_id: str) -> bool:
        """Whether a turn or tool run of the session is still running (read or not)."""
        return self._runs.running(session_id)

    def start_turn(
        self,
        session_id: str,
        text: str,
        attachment_ids: Sequence[str] = (),
        force_tool: str | None = None,
        max_steps: int | None = None,
        region: DrawnRegion | None = None,
        admitted: Admitted | None = None,
    ) -> AsyncGenerator[TurnEvent]:
        """Start one user turn now (on the running loop); read its events from the result.

        Failures end in TurnFailed, never raise. `max_steps` overrides the configured
        tool-step budget for this turn (0: answer directly). A `region` drawn on an attached
        slide (the slide viewer sends one), or a message naming one in words, starts with
        `slide_zoom` on exactly that box. The user's message is checkpointed before the
        model is called, so it survives a dead model server or a killed process. The turn
        runs to its end and is stored even when its reader goes away (a closed browser tab)
        or never reads: see `assistant.detached`.

        A caller that let the turn through the start gate (`assistant.starts`, for turns
        arriving together) passes its place as `admitted`; the turn gives it back as its
        first model request leaves.
        """
        admitted = admitted or Admitted.none()
        try:
            inputs, context = self._turn_inputs(
                session_id, text, attachment_ids, force_tool, max_steps, region
            )
            user = self.sessions.get(session_id).owner
        except MedAssistError as exc:
            admitted.release()
            return _failed(str(exc))
        except Exception as exc:  # a bug before the graph started: logged, turn ends
            log.exception("preparing a turn of session %s failed", session_id)
            admitted.release()
            return _failed(_bug_message(exc))
        steps = self._limited(user, session_id, inputs, context, admitted)
        return self._runs.start(session_id, steps)

    async def run_turn(
        self,
        session_id: str,
        text: str,
        attachment_ids: Sequence[str] = (),
        force_tool: str | None = None,
        max_steps: int | None = None,
        region: DrawnRegion | None = None,
    ) -> AsyncGenerator[TurnEvent]:
        """`start_turn`, started as this is first read."""
        turn = self.start_turn(session_id, text, attachment_ids, force_tool, max_steps, region)
        async with aclosing(turn) as events:
            async for event in events:
                yield event

    def _turn_inputs(
        self,
        session_id: str,
        text: str,
        attachment_ids: Sequence[str],
        force_tool: str | None,
        max_steps: int | None,
        region: DrawnRegion | None,
    ) -> tuple[dict[str, Any], AgentContext]:
        """The graph's input and context for one user turn (raises MedAssistError)."""
        info = self.sessions.get(session_id)
        if force_tool is not None:
            self.registry.get(force_tool)
        message = HumanMessage(
            content=text, additional_kwargs={ATTACHMENTS_KEY: list(attachment_ids)}
        )
        context = self._context(session_id)
        if max_steps is not None:
            context.max_steps = max_steps
        planned = None
        if force_tool in (None, ZOOM_TOOL):
            planned = region_call(text, context.attachments, region)
        title = (
            text.strip().splitlines()[0][:200]
            if info.title == "New consultation" and text.strip()
            else None
        )
        self.sessions.touch(session_id, title)
        self._record("message", session_id, " ".join(attachment_ids), info.owner)
        inputs = {
            "messages": [message],
            "steps": 0,
            "force_tool": force_tool,
            "planned_call": planned,
            "direct": False,
            "route": "end",
        }
        return inputs, context

    async def run_tool(
        self, session_id: str, name: str, arguments: Mapping[str, Any]
    ) -> AsyncGenerator[TurnEvent]:
        """Run one tool as the person asked, with these arguments, as a step of the session.

        It joins the conversation exactly as if the model had called it (the model sees the
        result next turn; reports cite it), then the run ends without a model answer. Invalid
        arguments end in TurnFailed naming the problem; nothing is stored for them.
        """
        try:
            info = self.sessions.get(session_id)
            tool = self.registry.get(name)
            args = tool.parse_args(arguments).model_dump(mode="json", exclude_none=True)
            self.sessions.touch(session_id)
            self._record("run_tool", session_id, name, info.owner)
            context = self._context(session_id)
        except MedAssistError as exc:
            yield TurnFailed(str(exc))
            return
        except Exception as exc:  # a bug before the graph started: logged, turn ends
            log.exception("preparing %s in session %s failed", name, session_id)
            yield TurnFailed(_bug_message(exc))
            return
        message = HumanMessage(
            content=f"I ran {name} myself.", additional_kwargs={DIRECT_TOOL_KEY: name}
        )
        inputs = {
            "messages": [message],
            "steps": 0,
            "force_tool": None,
            "planned_call": {"name": name, "args": args},
            "direct": True,
            "route": "end",
        }
        steps = self._limited(info.owner, session_id, inputs, context, Admitted.none())
        async with aclosing(self._runs.start(session_id, steps)) as events:
            async for event in events:
                yield event

    async def _limited(
        self,
        user: str,
        session_id: str,
        inputs: dict[str, Any],
        context: AgentContext,
        admitted: Admitted,
    ) -> AsyncGenerator[TurnEvent]:
        """`_stream` within the turn limits: a busy server says where the run waits, at once.

        The slot is freed as the last event (TurnDone or TurnFailed) goes out, so a caller
        that stops reading there does not hold it until its generator is collected. The
        place at the start gate is given back at the first model request or event.
        """
        context.model = announcing(context.model, admitted.release)
        try:
            async with aclosing(self.limiter.acquire(user)) as places:
                async for place in places:
                    admitted.release()
                    yield TurnQueued(place.position, place.running, place.reason)
            held = True
            try:
                async for event in self._stream(session_id, inputs, context):
                    admitted.release()
                    if isinstance(event, TurnDone | TurnFailed):
                        held = False
                        self.limiter.release(user)
                    yield event
            finally:
                if held:  # cancelled or closed mid-turn
                    self.limiter.release(user)
        finally:
            admitted.release()

    async def _stream(
        self, session_id: str, inputs: dict[str, Any], context: AgentContext
    ) -> AsyncIterator[TurnEvent]:
        """Run the graph on `inputs`, passing its events on; every failure ends in TurnFailed."""
        config = {"configurable": {"thread_id": session_id}}
        answer, incomplete = "", None
        try:
            async for mode, chunk in self.graph.astream(
                inputs, config, context=context, stream_mode=["custom", "updates"]
            ):
                if mode == "custom":
                    if isinstance(chunk, STREAMED):
                        yield chunk
                    continue
                for update in chunk.values():
                    for msg in (update or {}).get("messages", []):
                        if isinstance(msg, AIMessage) and not msg.tool_calls:
                            answer = str(msg.content)
                            incomplete = msg.additional_kwargs.get(INCOMPLETE_KEY)
        except MedAssistError as exc:  # a dead model server, a bad file, a bad request
            log.warning("turn failed in session %s: %s", session_id, exc)
            yield TurnFailed(str(exc))
            return
        except Exception as exc:  # a bug: keep the trace in the log, end the turn cleanly
            log.exception("unexpected error in a turn of session %s", session_id)
            yield TurnFailed(_bug_message(exc))
            return
        self.sessions.touch(session_id)
        yield TurnDone(answer, incomplete)


@dataclass(frozen=True)
class _ReportIndex:
    """A session's rows of the catalogue's reports index."""

    sessions: SessionStore
    session_id: str

    def record(self, report: DraftReport) -> None:
        entry = ReportEntry(
            report.id, report.version, report.status, report.template, report.created.timestamp()
        )
        self.sessions.index_report(self.session_id, entry)

    def ids(self) -> list[str]:
        return self.sessions.report_ids(self.session_id)


async def _failed(message: str) -> AsyncGenerator[TurnEvent]:
    """A turn that ended before it started: its one event."""
    yield TurnFailed(message)


def _bug_message(exc: Exception) -> str:
    """What the person reads when a bug (not a bad input) ended the turn."""
    return (
        f"Something went wrong inside the assistant ({type(exc).__name__}); it has been "
        "logged. Your message is kept: try again, or start a new session."
    )
