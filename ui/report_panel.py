"""The report panel: draft a cited report from the session, edit it, export it, ask about it."""

from __future__ import annotations

from typing import Any

import gradio as gr

from assistant.report import available_templates, to_markdown
from tools.errors import MedAssistError
from ui.holder import AssistantHolder


def _files(folder: Any, report_id: str) -> list[str]:
    return [str(folder / f"{report_id}.md"), str(folder / f"{report_id}.fhir.json")]


def build_report_panel(holder: AssistantHolder, session_state: gr.State) -> None:
    """Add the report accordion to the Blocks being built."""
    templates = list(available_templates())
    report_state = gr.State(None)
    with gr.Accordion("Report draft", open=False, elem_id="report-panel"):
        with gr.Row():
            template = gr.Dropdown(
                label="Template",
                choices=templates,
                value=templates[0] if templates else None,
                elem_id="report-template",
            )
            draft_btn = gr.Button("Draft report from this session", elem_id="draft-report")
        status = gr.Markdown(elem_id="report-status")
        preview = gr.Markdown(elem_id="report-preview")
        editor = gr.Textbox(label="Edit (Markdown)", lines=10, elem_id="report-editor")
        with gr.Row():
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

    async def draft(session_id: str | None, name: str) -> tuple[Any, ...]:
        if not session_id:
            return None, "⚠️ Start a conversation first.", "", "", None
        assistant = await holder.get()
        try:
            report = await assistant.draft_report(session_id, name)
        except MedAssistError as exc:
            return None, f"⚠️ {exc}", "", "", None
        text = to_markdown(report)
        flagged = sum(s.support != "supported" for sec in report.sections for s in sec.sentences)
        note = f"Draft ready: {len(report.evidence)} evidence items; {flagged} sentence(s) flagged."
        folder = assistant.sessions.session_dir(session_id) / "reports"
        return report.id, note, text, text, _files(folder, report.id)

    async def save(session_id: str | None, report_id: str | None, text: str) -> tuple[Any, ...]:
        if not (session_id and report_id):
            return "⚠️ Draft a report first.", gr.skip(), gr.skip()
        assistant = await holder.get()
        report = assistant.load_report(session_id, report_id)
        folder = assistant.save_report(session_id, report, markdown=text)
        return "Saved your edits.", text, _files(folder, report_id)

    async def ask(session_id: str | None, report_id: str | None, text: str) -> str:
        if not (session_id and report_id):
            return "⚠️ Draft a report first."
        assistant = await holder.get()
        try:
            result = await assistant.ask_about_report(session_id, report_id, text)
        except MedAssistError as exc:
            return f"⚠️ {exc}"
        cited = "\n".join(f"- [{e.id}] {e.label}: {e.text[:300]}" for e in result.evidence)
        return f"{result.text}\n\n**Evidence**\n{cited or '(none)'}"

    draft_btn.click(
        draft, [session_state, template], [report_state, status, preview, editor, files]
    )
    save_btn.click(save, [session_state, report_state, editor], [status, preview, files])
    question.submit(ask, [session_state, report_state, question], answer)
