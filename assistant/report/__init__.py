"""Report drafting: templates, evidence, measured findings, a constrained draft, export, store.

Public API::

    report = await draft_report(model, "chest-radiograph", messages, passages)
    markdown = to_markdown(report)
    fhir = to_fhir(report)
    store = ReportStore(session_dir / "reports", subject="session/abc")
    files = store.save(report)
    report, files = store.edit(report.id, edited_markdown, status="final")
    answer = await answer_followup(model, report, "why do you say effusion?")
"""

from assistant.report.draft import ATTEMPTS, draft_report, report_schema
from assistant.report.edits import apply_edit, section_texts
from assistant.report.evidence import Evidence, collect_evidence, image_evidence
from assistant.report.export import draft_markdown, to_fhir, to_markdown
from assistant.report.findings import measured_sentences
from assistant.report.followup import FollowupAnswer, answer_followup
from assistant.report.model import (
    DraftReport,
    Measurement,
    ReportSection,
    ReportSentence,
    ReportStatus,
    Support,
)
from assistant.report.passages import related_passages
from assistant.report.store import ReportFiles, ReportStore
from assistant.report.support import check_support, revise_sentence
from assistant.report.templates import (
    Filler,
    ReportTemplate,
    available_templates,
    load_template,
)

__all__ = [
    "ATTEMPTS",
    "DraftReport",
    "Evidence",
    "Filler",
    "FollowupAnswer",
    "Measurement",
    "ReportFiles",
    "ReportSection",
    "ReportSentence",
    "ReportStatus",
    "ReportStore",
    "ReportTemplate",
    "Support",
    "answer_followup",
    "apply_edit",
    "available_templates",
    "check_support",
    "collect_evidence",
    "draft_markdown",
    "draft_report",
    "image_evidence",
    "load_template",
    "measured_sentences",
    "related_passages",
    "report_schema",
    "revise_sentence",
    "section_texts",
    "to_fhir",
    "to_markdown",
]
