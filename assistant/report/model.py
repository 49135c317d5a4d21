"""The draft report as data: sections of sentences, each with its citations and support."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from assistant.report.evidence import Evidence

__all__ = ["DraftReport", "ReportSection", "ReportSentence", "Support"]


class Support(StrEnum):
    """How well a sentence is backed by what it cites."""

    SUPPORTED = "supported"
    WEAK = "weak"
    """Citations resolve, but the cited evidence shares no term or number with the sentence."""
    UNSUPPORTED = "unsupported"
    """No citation, or a citation that resolves to no evidence."""


class ReportSentence(BaseModel):
    """One sentence of the report (editable in the UI; re-check support after editing)."""

    text: str
    citations: list[str] = Field(default_factory=list)
    support: Support = Support.SUPPORTED
    problem: str | None = None


class ReportSection(BaseModel):
    """A section of the report, in template order."""

    name: str
    title: str
    sentences: list[ReportSentence] = Field(default_factory=list)

    @property
    def text(self) -> str:
        """The section's sentences as plain prose."""
        return " ".join(s.text.strip() for s in self.sentences if s.text.strip())


class DraftReport(BaseModel):
    """A drafted report with the evidence its citations point to."""

    id: str
    template: str
    title: str
    modality: str
    created: datetime = Field(default_factory=lambda: datetime.now(UTC))
    status: str = "preliminary"
    sections: list[ReportSection]
    evidence: list[Evidence]

    def evidence_by_id(self) -> dict[str, Evidence]:
        """Evidence keyed by id."""
        return {e.id: e for e in self.evidence}

    def numbering(self) -> dict[str, int]:
        """Display numbers [1], [2] … in order of first citation."""
        known = self.evidence_by_id()
        order: dict[str, int] = {}
        for section in self.sections:
            for sentence in section.sentences:
                for cid in sentence.citations:
                    if cid in known and cid not in order:
                        order[cid] = len(order) + 1
        return order

    def sentences(self) -> list[tuple[ReportSection, ReportSentence]]:
        """Every sentence with its section, in reading order."""
        return [(sec, s) for sec in self.sections for s in sec.sentences]

    def section(self, name: str) -> ReportSection | None:
        """Return the section called `name`, if the report has it."""
        return next((s for s in self.sections if s.name == name), None)
