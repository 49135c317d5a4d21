"""Where a session's reports live: the current version, its exports, and every saved version.

Layout under ``<session>/reports/``: ``<id>.json`` (the report as data), ``<id>.md`` and
``<id>.fhir.json`` (the exports, always written together from the same version), and
``versions/<id>/<n>.json`` (each saved version with its time: the audit trail).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from assistant.report.edits import apply_edit
from assistant.report.export import to_fhir, to_markdown
from assistant.report.model import DraftReport, ReportStatus
from tools.atomic import atomic_write_text
from tools.errors import InputError

__all__ = ["ReportFiles", "ReportIndex", "ReportStore"]


class ReportIndex(Protocol):
    """Where the catalogue lists a session's reports (the database's reports table)."""

    def record(self, report: DraftReport) -> None:
        """Note a saved version of `report`."""

    def ids(self) -> list[str]:
        """The session's report ids."""


@dataclass(frozen=True)
class ReportFiles:
    """The files of one report's current version."""

    data: Path
    markdown: Path
    fhir: Path

    @property
    def exports(self) -> list[Path]:
        """The Markdown and the FHIR DiagnosticReport."""
        return [self.markdown, self.fhir]


def _write(path: Path, text: str) -> None:
    """Write via a temporary file, so a crash never leaves half a report."""
    atomic_write_text(path, text)


class ReportStore:
    """The reports of one session (`folder` is the session's ``reports`` folder)."""

    def __init__(
        self, folder: Path, subject: str | None = None, index: ReportIndex | None = None
    ) -> None:
        self.folder = folder
        self.subject = subject
        self.index = index
        """Lists the reports when given (else the folder is listed), and is told of saves."""

    def files(self, report_id: str) -> ReportFiles:
        """Paths of a report's current files (they may not exist yet)."""
        f = self.folder
        return ReportFiles(
            f / f"{report_id}.json", f / f"{report_id}.md", f / f"{report_id}.fhir.json"
        )

    def save(self, report: DraftReport) -> ReportFiles:
        """Store `report` as the current version, export it, and keep the version."""
        files = self.files(report.id)
        versions = self.folder / "versions" / report.id
        versions.mkdir(parents=True, exist_ok=True)
        data = report.model_dump_json(indent=2)
        _write(versions / f"{report.version:04d}.json", data)
        _write(files.markdown, to_markdown(report))
        _write(files.fhir, json.dumps(to_fhir(report, subject=self.subject), indent=2))
        _write(files.data, data)
        if self.index is not None:
            self.index.record(report)
        return files

    def ids(self) -> list[str]:
        """Ids of the stored reports (any order)."""
        if self.index is not None:
            return self.index.ids()
        if not self.folder.is_dir():
            return []
        return [
            p.name[: -len(".json")]
            for p in self.folder.glob("*.json")
            if not p.name.endswith(".fhir.json")
        ]

    def load(self, report_id: str) -> DraftReport:
        """The current version of a report of this session."""
        path = self.files(report_id).data
        if not report_id or "/" in report_id or not path.exists():
            known = ", ".join(sorted(self.ids())) or "none yet"
            raise InputError(
                f"no report {report_id!r} in this session (its reports: {known}); "
                "draft one or pick one from the list"
            )
        return DraftReport.model_validate_json(path.read_text(encoding="utf-8"))

    def newest_first(self) -> list[DraftReport]:
        """The session's reports, newest first."""
        reports = [self.load(i) for i in self.ids()]
        return sorted(reports, key=lambda r: r.created, reverse=True)

    def versions(self, report_id: str) -> list[DraftReport]:
        """Every saved version of a report, oldest first."""
        self.load(report_id)
        folder = self.folder / "versions" / report_id
        return [
            DraftReport.model_validate_json(p.read_text(encoding="utf-8"))
            for p in sorted(folder.glob("*.json"))
        ]

    def edit(
        self, report_id: str, markdown: str, *, status: ReportStatus | None = None
    ) -> tuple[DraftReport, ReportFiles]:
        """Save the person's Markdown (and status) as a new version; re-export."""
        if not markdown.strip():
            raise InputError("the edited report is empty; nothing was saved")
        report = apply_edit(self.load(report_id), markdown, status=status)
        return report, self.save(report)
