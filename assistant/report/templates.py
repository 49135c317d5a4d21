"""Report templates declared as YAML in ``configs/reports/`` (one file per template).

Structured reporting in the RadReport / CAP synoptic sense: a section that lists `fill`
is written by code from the evidence those fillers name (measured findings, correct
whatever the model); the other sections are written by the model under a schema.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, model_validator

from assistant.config import load_named, named_files
from tools.errors import ConfigError
from tools.settings import Strict

__all__ = [
    "Coding",
    "Filler",
    "ReportTemplate",
    "TemplateSection",
    "available_templates",
    "load_template",
]


class Filler(StrEnum):
    """Evidence that fills a measured section (assistant/report/findings.py renders each)."""

    IMAGE_FACTS = "image_facts"
    """Modality, body part, size and frames from the header or describe_image."""
    WINDOW = "window"
    """The display window and frame view_dicom used."""
    LUNG_AREAS = "lung_areas"
    """Areas of the lung fields from segment(lung_fields)."""
    NUCLEI = "nuclei"
    """Nuclei counts, sizes and densities from segment(nuclei_*) and slide_zoom."""
    TISSUE = "tissue"
    """Tissue pieces and coverage from slide_overview and segment(tissue)."""
    ORGAN_VOLUMES = "organ_volumes"
    """Organ volumes in mL from segment(ct_organs)."""
    SLIDE_REGIONS = "slide_regions"
    """Slide regions visited with slide_zoom: box, magnification, measurements."""
    SLIDE_NOTES = "slide_notes"
    """Observations written down with slide_note."""
    STRUCTURES = "structures"
    """Any other segmentation (prompted, vessels): count and total area."""


class Coding(Strict):
    """A FHIR Coding: a code from a code system."""

    system: str = "http://terminology.hl7.org/CodeSystem/v2-0074"
    code: str
    display: str


class TemplateSection(Strict):
    """One section of a report and what goes into it (the guidance is shown to the model)."""

    name: str = Field(pattern=r"^[a-z][a-z_]*$")
    title: str
    guidance: str = ""
    required: bool = True
    max_sentences: int = Field(default=6, ge=1, le=20)
    fill: tuple[Filler, ...] = Field(
        default=(), description="Evidence rendered by code; empty: the model writes it."
    )

    @property
    def measured(self) -> bool:
        """Whether code writes this section from the evidence (never the model)."""
        return bool(self.fill)


class ReportTemplate(Strict):
    """A structured report: its sections in order and its FHIR category and code."""

    name: str
    title: str
    modality: str
    category: Coding
    code: Coding
    sections: tuple[TemplateSection, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_sections(self) -> ReportTemplate:
        names = [s.name for s in self.sections]
        if len(set(names)) != len(names):
            raise ValueError(f"section names must be unique, got {names}")
        if "impression" not in names:
            raise ValueError("a template needs an 'impression' section (it becomes the conclusion)")
        if self.section("impression").measured:
            raise ValueError("the 'impression' section is written by the model; remove its fill")
        return self

    @property
    def model_sections(self) -> tuple[TemplateSection, ...]:
        """The sections the model writes."""
        return tuple(s for s in self.sections if not s.measured)

    def section(self, name: str) -> TemplateSection:
        """Return the section called `name`."""
        for section in self.sections:
            if section.name == name:
                return section
        names = [s.name for s in self.sections]
        raise ConfigError(f"template {self.name!r} has no section {name!r}; it has {names}")


def available_templates() -> dict[str, Path]:
    """Template names and their YAML files."""
    return named_files("reports")


def load_template(name: str) -> ReportTemplate:
    """Load and validate ``configs/reports/<name>.yaml``."""
    return load_named("reports", name, ReportTemplate, "report template")
