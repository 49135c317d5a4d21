"""The draft report as data: sections of sentences, each with its citations and support."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from assistant.report.evidence import Evidence

__all__ = [
    "DraftReport",
    "Measurement",
    "Origin",
    "ReportSection",
    "ReportSentence",
    "ReportStatus",
    "Support",
]

Origin = Literal["measured", "model"]
"""Who wrote a sentence: the code, from a tool result (measured), or the model."""

ReportStatus = Literal["preliminary", "final"]


class Support(StrEnum):
    """How well a sentence is backed by what it cites."""

    SUPPORTED = "supported"
    WEAK = "weak"
    """Citations resolve, but the cited evidence shares no term with the sentence."""
    MISMATCH = "mismatch"
    """The sentence states a number that no cited evidence states."""
    UNSUPPORTED = "unsupported"
    """No citation, a citation that resolves to no evidence, or repeated chat text."""


class Measurement(BaseModel):
    """A measured value behind a finding (becomes a FHIR Observation)."""

    name: str = Field(description="What was measured, e.g. 'left lung area'.")
    value: float
    unit: str
    ucum: str | None = Field(default=None, description="UCUM code of the unit, if it has one.")
    evidence: str = Field(description="Id of the tool result the value comes from.")


class ReportSentence(BaseModel):
    """One sentence of the report (editable in the UI; re-check support after editing)."""

    text: str
    citations: list[str] = Field(default_factory=list)
    support: Support = Support.SUPPORTED
    problem: str | None = None
    origin: Origin = "model"
    measurements: list[Measurement] = Field(default_factory=list)


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
    """A drafted report with the evidence its citations point to, and the person's edits.

    `markdown` is the text as the person last saved it (None: never edited); `edited`
    holds that text's section bodies by section name, so exports use the edited wording.
    """

    id: str
    template: str
    title: str
    modality: str
    created: datetime = Field(default_factory=lambda: datetime.now(UTC))
    status: ReportStatus = "preliminary"
    sections: list[ReportSection]
    evidence: list[Evidence]
    notes: list[str] = Field(default_factory=list, description="What the drafting could not do.")
    markdown: str | None = None
    edited: dict[str, str] = Field(default_factory=dict)
    version: int = 1
    saved: datetime | None = None

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

    def section_text(self, name: str) -> str:
        """The section's text as the person last saved it, else as drafted."""
        if name in self.edited:
            return self.edited[name]
        section = self.section(name)
        return section.text if section is not None else ""

    def measurements(self) -> list[Measurement]:
        """Every measurement behind a measured finding, in reading order."""
        return [m for _, s in self.sentences() for m in s.measurements]
