"""The report panel: draft a cited report, pick one of the session's reports, edit, export, ask.

Everything shown belongs to the current session: the panel refreshes whenever the
session id in `session_state` changes (new session, a past session opened, the first
message; `ui.follow`), and a save names the session its report came from, so an edit can never land
in another session's report.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from assistant.report import DraftReport, Support, available_templates, to_markdown
from assistant.service import Assistant
from tools.errors import MedAssistError
from ui.follow import Focus, Follower
from ui.holder import AssistantHolder

__all__ = ["build_report_panel", "report_choices"]

Shown = dict[str, str] | None
"""The report on screen: {"session": id, "report": id}, or None."""


def report_choices(reports: list[DraftReport]) -> list[tuple[str, str]]:
    """Dropdown entries, newest first: title, status, version and time."""
    return [
        (
            f"{r.title} · {r.status} · v{r.version} · "
            f"{(r.saved or r.created).strftime('%Y-%m-%d %H:%M:%S')} · {r.id[:8]}",
            r.id,
        )
        for r in reports
    ]


def _summary(report: DraftReport) -> str:
    sentences = [s for _, s in report.sentences()]
    measured = sum(s.origin == "measured" for s in sentences)
    flagged = sum(s.support != Support.SUPPORTED for s in sentences)
    note = (
        f"{report.title} ({report.status}, version {report.version}): "
        f"{measured} measured finding(s), {len(sentences) - measured} written by the model, "
        f"{flagged} flagged; {len(report.evidence)} evidence item(s)."
    )
    return "\n\n".join([note, *(f"⚠️ {n}" for n in report.notes)])


def _files(assistant: Assistant, session_id: str, report_id: str) -> list[str]:
    return [str(p) for p in assistant.report_files(session_id, report_id).exports]


def build_report_panel(
    holder: AssistantHolder, session_state: gr.State
) -> tuple[gr.Dropdown, Follower]:
    """Add the report accordion to the Blocks being built.

    Returns the template chooser, which the app sets from the chosen image's kind, and how
    the panel follows the session (`ui.follow`).
    """
    templates = list(available_templates())
    shown = gr.State(None)
    with gr.Accordion("Report draft", open=False, elem_id="report-panel"):
        with gr.Row():
            template = gr.Dropdown(
                label="Template",
                choices=templates,
                value=templates[0] if templates else None,
                elem_id="report-template",
            )
            draft_btn = gr.Button("Draft report from this session", elem_id="draft-report")
        reports = gr.Dropdown(
            label="This session's reports (newest first)",
            choices=[],
            value=None,
            interactive=True,
            elem_id="report-list",
        )
        status = gr.Markdown(elem_id="report-status")
        preview = gr.Markdown(elem_id="report-preview")
        editor = gr.Textbox(label="Edit (Markdown)", lines=10, elem_id="report-editor")
        with gr.Row():
            final = gr.Checkbox(label="Mark final (reviewed)", value=False, elem_id="report-final")
            save_btn = gr.Button("Save edits", elem_id="save-report")
        files = gr.File(
            label="Export (Markdown, FHIR DiagnosticReport)",
            file_count="multiple",
            interactive=False,
            elem_id="report-files",
        )
        question = gr.Textbox(
            label="Ask about the draft", placeholder="Why do you say …?", elem_id="report-question"
        )
        answer = gr.Markdown(elem_id="report-answer")

    view = [shown, reports, status, preview, editor, final, files, answer]

    def _show(
        assistant: Assistant,
        session_id: str,
        report: DraftReport,
        note: str,
        listed: list[DraftReport] | None = None,
    ) -> tuple[Any, ...]:
        text = to_markdown(report)
        if listed is None:
            listed = assistant.list_reports(session_id)
        choices = report_choices(listed)
        return (
            {"session": session_id, "report": report.id},
            gr.update(choices=choices, value=report.id),
            note or _summary(report),
            text,
            text,
            report.status == "final",
            _files(assistant, session_id, report.id),
            "",
        )

    def _empty(note: str, choices: list[tuple[str, str]] | None = None) -> tuple[Any, ...]:
        return (None, gr.update(choices=choices or [], value=None), note, "", "", False, None, "")

    def _nothing_shown(note: str) -> tuple[Any, ...]:
        """As `_empty`, for a panel that shows no report, so lists none: plain values.

        Gradio rebuilds a component for each `gr.update`, needed only to empty the list.
        """
        return (None, None, note, "", "", False, None, "")

    def _unchanged() -> tuple[Any, ...]:
        return tuple(gr.skip() for _ in view)

    async def refresh(session_id: str | None, current: Shown = None) -> tuple[Any, ...]:
        if not session_id:
            return _empty("")
        if current and current["session"] == session_id:
            return _unchanged()  # same session (a repeated event): keep unsaved edits
        assistant = await holder.get()
        try:
            listed = assistant.list_reports(session_id)
        except MedAssistError as exc:
            return _empty(f"⚠️ {exc}")
        if not listed:
            return _empty("No report in this session yet.")
        return _show(assistant, session_id, listed[0], "", listed)

    async def pick(
        session_id: str | None, report_id: str | None, current: Shown
    ) -> tuple[Any, ...]:
        if not (session_id and report_id):
            return await refresh(session_id)
        if current == {"session": session_id, "report": report_id}:
            return _unchanged()  # the dropdown also fires on blur: keep unsaved edits
        assistant = await holder.get()
        try:
            return _show(assistant, session_id, assistant.load_report(session_id, report_id), "")
        except MedAssistError as exc:
            return _empty(f"⚠️ {exc}")

    async def draft(session_id: str | None, name: str) -> tuple[Any, ...]:
        if not session_id:
            return _empty("⚠️ Start a conversation first.")
        assistant = await holder.get()
        try:
            report = await assistant.draft_report(session_id, name)
        except MedAssistError as exc:
            return (gr.skip(), gr.skip(), f"⚠️ {exc}", *[gr.skip()] * 5)
        return _show(assistant, session_id, report, f"Draft ready. {_summary(report)}")

    async def save(
        session_id: str | None, current: Shown, text: str, is_final: bool
    ) -> tuple[Any, ...]:
        if not (session_id and current):
            return (gr.skip(), gr.skip(), "⚠️ Draft or pick a report first.", *[gr.skip()] * 5)
        if current["session"] != session_id:  # never write into another session's report
            return await refresh(session_id)
        assistant = await holder.get()
        try:
            report, _ = await assistant.asave_report(
                session_id,
                current["report"],
                text,
                status="final" if is_final else "preliminary",
            )
        except MedAssistError as exc:
            return (gr.skip(), gr.skip(), f"⚠️ {exc}", *[gr.skip()] * 5)
        when = report.saved.strftime("%H:%M:%S") if report.saved else ""
        note = f"Saved your edits as version {report.version} ({report.status}) at {when} UTC."
        return _show(assistant, session_id, report, note)

    async def follow(focus: Focus, current: Shown) -> tuple[Any, ...]:
        """The newest report of the session followed (a panel showing none has none listed)."""
        if current is not None:
            return await refresh(focus.session_id, current)
        if not focus.session_id:
            return _nothing_shown("")
        assistant = await holder.get()
        try:
            listed = assistant.list_reports(focus.session_id)
        except MedAssistError as exc:
            return _nothing_shown(f"⚠️ {exc}")
        if not listed:
            return _nothing_shown("No report in this session yet.")
        return _show(assistant, focus.session_id, listed[0], "", listed)

    async def ask(session_id: str | None, current: Shown, text: str) -> str:
        if not (session_id and current and current["session"] == session_id):
            return "⚠️ Draft or pick a report of this session first."
        assistant = await holder.get()
        try:
            result = await assistant.ask_about_report(session_id, current["report"], text)
        except MedAssistError as exc:
            return f"⚠️ {exc}"
        return result.markdown()

    reports.input(pick, [session_state, reports, shown], view)
    draft_btn.click(draft, [session_state, template], view)
    save_btn.click(save, [session_state, shown, editor, final], view)
    question.submit(ask, [session_state, shown, question], answer)
    return template, Follower("report", view, follow, [shown])
