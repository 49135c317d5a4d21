"""The PACS panel: search the hospital's PACS, attach a series or a study, send results back.

Search results identify patients, so they stay in this browser's `gr.State` and table:
never in the session, the conversation, the logs or what the model sees. An attached
series is an ordinary upload (same limits, same de-identification), named here by its
safe display name. Results go back to a PACS only if its endpoint opted in
(`stow_enabled`). A failing PACS gives a message in the panel and changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import gradio as gr

from assistant.pacs import PacsService
from tools.attachments import Attachment
from tools.errors import MedAssistError
from tools.pacs import PacsSettings, SeriesHit
from ui.access import user_of
from ui.follow import Focus, Follower
from ui.holder import AssistantHolder
from ui.pacs_results import (
    COLUMNS,
    EXPANDED_STUDIES,
    WIDTHS,
    Row,
    attach_choices,
    endpoint_choices,
    result_rows,
    study_query,
    table,
)

__all__ = [
    "NOT_CONFIGURED",
    "Exported",
    "PacsPanel",
    "attach",
    "build_pacs_panel",
    "export",
    "result_choices",
    "search",
    "send",
    "sending",
]

log = logging.getLogger(__name__)
Progress = Callable[..., object]
"""`gr.Progress` or anything called the same way: ``progress((done, total), desc=...)``."""

NOT_CONFIGURED = (
    "No PACS is configured. To search one and attach its series, add an endpoint under "
    "`endpoints:` in `configs/pacs.yaml` (the file shows an example; keep passwords in "
    "`MEDASSIST_PACS__ENDPOINTS__<NAME>__AUTH__PASSWORD`), then restart MedAssist."
)
NO_REPORT = ""


@dataclass
class PacsPanel:
    """What app.py wires: the latest attach (`attached`) and how the panel follows."""

    attached: gr.State
    follower: Follower


@dataclass(frozen=True)
class Exported:
    """The DICOM files this browser exported last, and the session they belong to."""

    session_id: str
    files: tuple[str, ...]


def _failed(step: str, exc: Exception) -> str:
    """The panel's sentence for a failure; a bug is logged by type and stack, not message."""
    if isinstance(exc, MedAssistError):  # a PACS, input or limit problem: the person's to fix
        text = str(exc).rstrip()
        return f"⚠️ {text}" + ("" if text.endswith((".", "!", "?")) else ".")
    # The message of an unexpected error may quote what the PACS sent (patient data).
    stack = "".join(traceback.format_tb(exc.__traceback__))
    log.error("the PACS panel failed while %s: %s (a bug)\n%s", step, type(exc).__name__, stack)
    return f"⚠️ {step.capitalize()} failed inside MedAssist ({type(exc).__name__}; logged)."


# -- search ----------------------------------------------------------------------------
async def search(
    holder: AssistantHolder,
    endpoint: str | None,
    patient_id: str = "",
    accession: str = "",
    date_from: str = "",
    date_to: str = "",
    modality: str = "",
    description: str = "",
) -> tuple[list[Row], str]:
    """Studies (and their series) matching the fields; the rows and the panel's message."""
    assistant = await holder.get()
    service = PacsService(assistant)
    try:
        query = study_query(patient_id, accession, date_from, date_to, modality, description,
                            limit=service.settings.max_results)  # fmt: skip
        studies = await asyncio.to_thread(service.search, query, endpoint)
        expanded = studies[:EXPANDED_STUDIES]
        listed = await asyncio.to_thread(
            lambda: {s.study_uid: service.series(s.study_uid, endpoint) for s in expanded}
        )
    except Exception as exc:  # noqa: BLE001 - _failed logs bugs; PACS errors are shown
        return [], _failed("searching", exc)
    rows = result_rows(studies, listed)
    found = f"{len(studies)} stud{'y' if len(studies) == 1 else 'ies'} found"
    if len(studies) > len(expanded):
        found += f"; series are listed for the first {len(expanded)} (narrow the search)"
    if len(studies) >= query.limit:
        found += f"; only the first {query.limit} are shown"
    return rows, found + "." if studies else "No study matches this search."


# -- attach ----------------------------------------------------------------------------
def _progress_of(progress: Progress | None) -> Callable[[SeriesHit], Callable[[int], None]]:
    def factory(hit: SeriesHit) -> Callable[[int], None]:
        done = 0
        what = f"{hit.modality or 'series'} series {hit.series_number or ''}".strip()

        def step(_bytes: int) -> None:
            nonlocal done
            done += 1
            if progress is not None:
                progress((done, hit.instance_count), desc=f"Retrieving {what}", unit="instance")

        return step

    return factory


async def attach(
    holder: AssistantHolder,
    session_id: str | None,
    endpoint: str | None,
    choice: str | None,
    rows: Sequence[Row] | None,
    user: str,
    progress: Progress | None = None,
) -> tuple[str | None, str | None, str]:
    """Attach the chosen series (or every image series of a chosen study) to the session.

    A session is started for `user` if none is open (and deleted again if nothing could be
    attached). Returns the session id, the attached ids ("img3 img4"; None on failure) and
    the panel's message.
    """
    if not rows or choice is None or not choice.isdigit() or int(choice) >= len(rows):
        return session_id, None, "⚠️ Search first, then choose a series or a study to attach."
    row = rows[int(choice)]
    assistant = await holder.get()
    started = session_id is None
    before: set[str] = set()
    try:
        if session_id is None:
            session_id = assistant.new_session(owner=user).id
        assistant.get_session(session_id, owner=user)
        before = set(assistant.attachments(session_id))
        service = PacsService(assistant)
        factory = _progress_of(progress)
        if row.series_uid is None:
            atts = await asyncio.to_thread(
                service.attach_study, session_id, row.study_uid, endpoint, factory
            )
        else:
            one = await asyncio.to_thread(
                service.attach_series, session_id, row.study_uid, row.series_uid, endpoint,
                factory,
            )  # fmt: skip
            atts = [one]
    except Exception as exc:  # noqa: BLE001 - _failed logs bugs; PACS errors are shown
        message = _failed("attaching", exc)
        if session_id is None:
            return None, None, message
        # A study's series come one by one: those attached before the failure stay.
        kept = [a for i, a in assistant.attachments(session_id).items() if i not in before]
        if kept:
            ids = " ".join(a.id for a in kept)
            return session_id, ids, f"{message} Attached before that: {_names(kept)}."
        if started:  # the session was started for this attach alone
            await assistant.delete_session(session_id)
            return None, None, f"{message} Nothing was added."
        return session_id, None, f"{message} Nothing was added to the session."
    return session_id, " ".join(a.id for a in atts), f"✅ Attached as {_names(atts)}."


def _names(atts: Sequence[Attachment]) -> str:
    return ", ".join(f"{a.id} ({a.name})" for a in atts)


# -- results back to the PACS -----------------------------------------------------------
async def result_choices(holder: AssistantHolder, session_id: str | None) -> tuple[Any, Any]:
    """Dropdown updates: the session's segmentation results (latest chosen) and reports."""
    reports = [("none", NO_REPORT)]
    if not session_id:
        return gr.update(choices=[], value=None), gr.update(choices=reports, value=NO_REPORT)
    assistant = await holder.get()
    runs = await PacsService(assistant).segment_runs(session_id)
    results = [(f"{r.number}. segment {r.target} on {r.image_id}", str(r.number)) for r in runs]
    reports += [
        (f"{r.title} · {r.status} · v{r.version} · {r.id[:8]}", r.id)
        for r in assistant.list_reports(session_id)
    ]
    latest = results[-1][1] if results else None
    return gr.update(choices=results, value=latest), gr.update(choices=reports, value=NO_REPORT)


async def export(
    holder: AssistantHolder, session_id: str | None, result: str | None, report: str | None
) -> tuple[Exported | None, str]:
    """Write DICOM SEG + SR for the chosen result (and the report as SR); the message."""
    if not session_id:
        return None, "⚠️ This session has no segmentation result yet."
    assistant = await holder.get()
    try:
        run = int(result) if result else None
        out = await PacsService(assistant).export(session_id, run, report or None)
    except Exception as exc:  # noqa: BLE001 - _failed logs bugs; input errors are shown
        return None, _failed("exporting", exc)
    notes = "".join(f"\n\n{n}" for n in out.notes)
    written = ", ".join(p.name for p in out.files)
    exported = Exported(session_id, tuple(str(p) for p in out.files))
    return exported, f"✅ Wrote {len(out.files)} DICOM object(s): {written}.{notes}"


def sending(settings: PacsSettings, endpoint: str | None) -> tuple[bool, str]:
    """Whether results may be sent to `endpoint`, and the reason shown when not."""
    chosen = settings.endpoints.get(endpoint or "")
    if chosen is None:
        return False, "Choose a PACS to send to."
    if not chosen.stow_enabled:
        return False, (
            f"Sending to {endpoint!r} is off: results go back only to a PACS whose entry in "
            "`configs/pacs.yaml` has `stow_enabled: true`."
        )
    return True, f"Results can be sent to {endpoint!r} (STOW-RS)."


async def send(
    holder: AssistantHolder, session_id: str | None, endpoint: str | None, exported: Any
) -> str:
    """Send the files this browser exported for the session to `endpoint`; the message."""
    assistant = await holder.get()
    allowed, why = sending(assistant.config.pacs, endpoint)
    if not allowed:
        return f"⚠️ {why}"
    if not isinstance(exported, Exported) or exported.session_id != session_id:
        return "⚠️ Nothing to send yet: choose a result and press “Download DICOM SEG / SR”."
    service = PacsService(assistant)
    try:
        paths = [Path(p) for p in exported.files]
        result = await asyncio.to_thread(service.send, paths, endpoint, session_id)
    except Exception as exc:  # noqa: BLE001 - _failed logs bugs; PACS errors are shown
        return _failed("sending", exc) + " The files are kept: you can send them again."
    if result.failed:
        reasons = "; ".join(reason for _, reason in result.failed)
        return (
            f"⚠️ PACS {result.endpoint!r} stored {len(result.stored)} object(s) and refused "
            f"{len(result.failed)} ({reasons}). The files are kept: you can send them again."
        )
    return f"✅ PACS {result.endpoint!r} stored {len(result.stored)} object(s)."


# -- the panel -------------------------------------------------------------------------
def build_pacs_panel(holder: AssistantHolder, session_state: gr.State) -> PacsPanel:
    """Add the PACS accordion to the Blocks being built and wire it.

    App.py refreshes the panels that list attachments when `attached` changes.
    """
    settings = holder.config.pacs
    attached = gr.State(None)
    with gr.Accordion("PACS", open=False, elem_id="pacs-panel") as accordion:
        if not settings.endpoints:
            gr.Markdown(NOT_CONFIGURED, elem_id="pacs-not-configured")
            return PacsPanel(attached, Follower("pacs", [], _nothing))
        choices = endpoint_choices(settings)
        first = settings.default or choices[0][1]
        endpoint = gr.Dropdown(label="PACS", choices=choices, value=first, elem_id="pacs-endpoint")
        with gr.Row():
            patient_id = gr.Textbox(label="Patient ID", elem_id="pacs-patient-id")
            accession = gr.Textbox(label="Accession number", elem_id="pacs-accession")
            modality = gr.Textbox(
                label="Modality", placeholder="CT, MR, CR …", elem_id="pacs-modality"
            )
        with gr.Row():
            date_from = gr.Textbox(
                label="Study date from", placeholder="YYYY-MM-DD", elem_id="pacs-from"
            )
            date_to = gr.Textbox(label="Study date to", placeholder="YYYY-MM-DD", elem_id="pacs-to")
            description = gr.Textbox(label="Description", elem_id="pacs-description")
        search_btn = gr.Button("Search", elem_id="pacs-search")
        found = gr.Markdown(elem_id="pacs-found")
        grid = gr.Dataframe(headers=COLUMNS, value=[], interactive=False, wrap=True,
                            column_widths=WIDTHS, elem_id="pacs-results")  # fmt: skip
        with gr.Row():
            choice = gr.Dropdown(label="Series or study to attach", choices=[], value=None,
                                 scale=4, elem_id="pacs-choice")  # fmt: skip
            attach_btn = gr.Button("Attach to session", scale=1, elem_id="pacs-attach")
        attach_note = gr.Markdown(elem_id="pacs-attach-note")
        gr.Markdown("**Results back to the PACS** (DICOM SEG + SR of a segmentation result)")
        with gr.Row():
            result = gr.Dropdown(label="Segmentation result", choices=[], elem_id="pacs-result")
            report = gr.Dropdown(label="With the report", choices=[("none", NO_REPORT)],
                                 value=NO_REPORT, elem_id="pacs-report")  # fmt: skip
        with gr.Row():
            export_btn = gr.Button("Download DICOM SEG / SR", elem_id="pacs-export")
            allowed, why = sending(settings, first)
            send_btn = gr.Button("Send to PACS", interactive=allowed, elem_id="pacs-send")
        send_why = gr.Markdown(why, elem_id="pacs-send-why")
        files = gr.File(label="DICOM files", file_count="multiple", interactive=False,
                        visible=False, elem_id="pacs-files")  # fmt: skip
        outcome = gr.Markdown(elem_id="pacs-outcome")
    rows = gr.State([])
    exported = gr.State(None)

    async def on_search(name: str | None, *fields: str) -> tuple[Any, ...]:
        found_rows, message = await search(holder, name, *fields)
        options = attach_choices(found_rows)
        pick = gr.update(choices=options, value=options[0][1] if options else None)
        return found_rows, table(found_rows), pick, message

    def on_select(shown: list[Row], event: gr.SelectData) -> Any:
        index = event.index[0] if isinstance(event.index, (list, tuple)) else event.index
        ok = isinstance(index, int) and 0 <= index < len(shown) and shown[index].attachable
        return str(index) if ok else gr.skip()

    async def on_attach(
        session_id: str | None, name: str | None, picked: str | None, shown: list[Row],
        request: gr.Request, progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> tuple[Any, ...]:  # fmt: skip
        opened, ids, message = await attach(
            holder, session_id, name, picked, shown, user_of(request), progress
        )
        # Named with the session: the same ids attached in another session still change it.
        return opened, f"{opened}/{ids}" if ids else None, message

    async def on_export(
        session_id: str | None, run: str | None, chosen_report: str | None
    ) -> tuple[Any, ...]:
        done, message = await export(holder, session_id, run, chosen_report)
        shown = gr.update(value=list(done.files), visible=True) if done else gr.skip()
        return done, shown, message

    def on_endpoint(name: str | None) -> tuple[Any, str]:
        ok, reason = sending(settings, name)
        return gr.update(interactive=ok), reason

    async def on_send(session_id: str | None, name: str | None, done: Any) -> str:
        return await send(holder, session_id, name, done)

    async def on_session(focus: Focus) -> tuple[Any, ...]:
        hidden = gr.update(value=None, visible=False)  # another session's files are not shown
        return *(await result_choices(holder, focus.session_id)), None, hidden, ""

    fields = [patient_id, accession, date_from, date_to, modality, description]
    search_btn.click(on_search, [endpoint, *fields], [rows, grid, choice, found])
    for box in fields:
        box.submit(on_search, [endpoint, *fields], [rows, grid, choice, found])
    grid.select(on_select, rows, choice)
    attach_btn.click(on_attach, [session_state, endpoint, choice, rows],
                     [session_state, attached, attach_note])  # fmt: skip
    listing = partial(result_choices, holder)
    accordion.expand(listing, session_state, [result, report])
    endpoint.change(on_endpoint, endpoint, [send_btn, send_why])
    export_btn.click(on_export, [session_state, result, report], [exported, files, outcome])
    send_btn.click(on_send, [session_state, endpoint, exported], outcome)
    follower = Follower("pacs", [result, report, exported, files, outcome], on_session)
    return PacsPanel(attached, follower)


async def _nothing(focus: Focus) -> tuple[Any, ...]:
    return ()
