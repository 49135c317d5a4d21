"""The person's edits: the saved Markdown read back into section texts.

The person edits the whole Markdown. To export what they wrote (the FHIR conclusion is
their impression, not the model's), each ``## Title`` block is matched to the template
section of that title and its text kept without bullets, citation ids or support marks.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from assistant.report.model import DraftReport, ReportStatus

__all__ = ["apply_edit", "section_texts"]

_MARK = re.compile(r"\s*(\*\*\[[^\]]*\]\*\*|\*\[[^\]]*\]\*|\[(?:T|I)\d+\]|\[kb-[\w-]+\])")


def _clean(line: str) -> str:
    line = re.sub(r"^\s*(?:[-*+]|\d+\.)\s+", "", line)
    return _MARK.sub("", line).strip()


def section_texts(report: DraftReport, markdown: str) -> dict[str, str]:
    """Each section's text in `markdown`, by section name (sections it lacks are absent)."""
    by_title = {s.title.strip().lower(): s.name for s in report.sections}
    out: dict[str, str] = {}
    current: str | None = None
    lines: list[str] = []
    for line in [*markdown.splitlines(), "## "]:
        if line.startswith("## "):
            if current is not None:
                text = " ".join(t for t in map(_clean, lines) if t)
                out[current] = "" if text.rstrip(".").lower() == "none" else text
            current = by_title.get(line[3:].strip().lower())
            lines = []
        elif current is not None:
            lines.append(line)
    return out


def apply_edit(
    report: DraftReport, markdown: str, *, status: ReportStatus | None = None
) -> DraftReport:
    """A new version of `report` holding the person's Markdown (and status, if given)."""
    return report.model_copy(
        update={
            "markdown": markdown,
            "edited": section_texts(report, markdown),
            "status": status or report.status,
            "version": report.version + 1,
            "saved": datetime.now(UTC),
        }
    )
