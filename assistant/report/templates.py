"""Report templates declared as YAML in ``configs/reports/`` (one file per template)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from assistant.config import load_named, named_files
from tools.errors import ConfigError

__all__ = ["Coding", "ReportTemplate", "TemplateSection", "available_templates", "load_template"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Coding(_Strict):
    """A FHIR Coding: a code from a code system."""

    system: str = "http://terminology.hl7.org/CodeSystem/v2-0074"
    code: str
    display: str


class TemplateSection(_Strict):
    """One section of a report and what goes into it (the guidance is shown to the model)."""

    name: str = Field(pattern=r"^[a-z][a-z_]*$")
    title: str
    guidance: str
    required: bool = True
    max_sentences: int = Field(default=6, ge=1, le=20)


class ReportTemplate(_Strict):
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
        return self

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
