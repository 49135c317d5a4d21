"""Report drafting: templates, evidence, a grammar-constrained draft, support check, export.

Public API::

    report = await draft_report(model, "chest-radiograph", messages, passages)
    markdown = to_markdown(report)
    fhir = to_fhir(report)
    answer = await answer_followup(model, report, "why do you say effusion?")
"""

from assistant.report.draft import draft_report, report_schema
from assistant.report.evidence import Evidence, collect_evidence
from assistant.report.export import to_fhir, to_markdown
from assistant.report.followup import FollowupAnswer, answer_followup
from assistant.report.model import DraftReport, ReportSection, ReportSentence, Support
from assistant.report.support import check_support, revise_sentence
from assistant.report.templates import ReportTemplate, available_templates, load_template

__all__ = [
    "DraftReport",
    "Evidence",
    "FollowupAnswer",
    "ReportSection",
    "ReportSentence",
    "ReportTemplate",
    "Support",
    "answer_followup",
    "available_templates",
    "check_support",
    "collect_evidence",
    "draft_report",
    "load_template",
    "report_schema",
    "revise_sentence",
    "to_fhir",
    "to_markdown",
]
