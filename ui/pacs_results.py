"""What the PACS panel shows of a search: rows of studies and their series, and the query.

Rows identify patients (name, ID, descriptions). They live in one browser's `gr.State`
and its table only: never in the session, the conversation, the logs or the model's view.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from pydantic import ValidationError

from tools.errors import InputError
from tools.pacs import PacsSettings, SeriesHit, StudyHit, StudyQuery

__all__ = [
    "COLUMNS",
    "EXPANDED_STUDIES",
    "WIDTHS",
    "Row",
    "attach_choices",
    "endpoint_choices",
    "result_rows",
    "short_uid",
    "study_query",
    "table",
]

COLUMNS = ["row", "date", "patient", "modality", "description", "instances", "UID"]
WIDTHS: list[str | int] = ["9%", "11%", "20%", "9%", "25%", "9%", "17%"]
EXPANDED_STUDIES = 20
"""Series are listed for this many studies of a search; the others can be attached whole."""


@dataclass(frozen=True)
class Row:
    """One line of the results: a study (`series_uid` None) or one series of it."""

    study_uid: str
    series_uid: str | None
    date: str
    patient: str
    modality: str
    description: str
    instances: int | None
    attachable: bool

    @property
    def uid(self) -> str:
        """The row's own UID: the series', or the study's for a study row."""
        return self.series_uid or self.study_uid


def short_uid(uid: str) -> str:
    """A UID short enough for a table cell, still telling rows apart (start…end)."""
    return uid if len(uid) <= 20 else f"{uid[:8]}…{uid[-10:]}"


def _day(text: str) -> str:
    """A DICOM date (YYYYMMDD) as YYYY-MM-DD; anything else unchanged."""
    return f"{text[:4]}-{text[4:6]}-{text[6:]}" if len(text) == 8 and text.isdigit() else text


def _patient(hit: StudyHit) -> str:
    name = hit.patient_name.replace("^", " ").strip()
    return f"{name} [{hit.patient_id}]" if hit.patient_id else name


def result_rows(
    studies: Sequence[StudyHit], series: Mapping[str, Sequence[SeriesHit]]
) -> list[Row]:
    """Each study followed by its series (those listed in `series`, by study UID)."""
    rows: list[Row] = []
    for study in studies:
        listed = series.get(study.study_uid)
        image_series = [s for s in listed if s.is_image] if listed is not None else None
        study_row = Row(study.study_uid, None, _day(study.study_date), _patient(study),
                        study.modalities, study.description, study.instance_count,
                        attachable=image_series is None or bool(image_series))  # fmt: skip
        rows.append(study_row)
        for hit in sorted(listed or [], key=_series_order):
            series_row = Row(hit.study_uid, hit.series_uid, "", "", hit.modality,
                             hit.description, hit.instance_count, hit.is_image)  # fmt: skip
            rows.append(series_row)
    return rows


def table(rows: Sequence[Row]) -> list[list[str]]:
    """The table's cells: study rows numbered 1, 2 …; their series indented under them."""
    cells: list[list[str]] = []
    study = 0
    for row in rows:
        count = "" if row.instances is None else str(row.instances)
        if row.series_uid is None:
            study += 1
            label = f"study {study}"
        else:
            label = "└ series" if row.attachable else "└ series (not images)"
        cells.append([label, row.date, row.patient, row.modality, row.description, count,
                      short_uid(row.uid)])  # fmt: skip
    return cells


def attach_choices(rows: Sequence[Row]) -> list[tuple[str, str]]:
    """Dropdown entries for the rows that can be attached; values are row positions."""
    choices: list[tuple[str, str]] = []
    study = 0
    for i, row in enumerate(rows):
        if row.series_uid is None:
            study += 1
        if not row.attachable:
            continue
        what = "whole study" if row.series_uid is None else "series"
        count = "?" if row.instances is None else row.instances
        label = (f"study {study} · {what} · {row.modality or '-'} · {count} instance(s) · "
                 f"{row.description or 'no description'} · {short_uid(row.uid)}")  # fmt: skip
        choices.append((label, str(i)))
    return choices


def endpoint_choices(settings: PacsSettings) -> list[tuple[str, str]]:
    """The configured endpoints: name, what sending is set to, and the description."""
    out = []
    for name, endpoint in settings.endpoints.items():
        sending = "sending on" if endpoint.stow_enabled else "search and retrieve only"
        extra = f" — {endpoint.description}" if endpoint.description else ""
        out.append((f"{name} ({sending}){extra}", name))
    return out


def _date(label: str, text: str) -> date | None:
    text = text.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{label} must be a date written YYYY-MM-DD, e.g. 2024-01-17") from None


def study_query(
    patient_id: str,
    accession: str,
    date_from: str,
    date_to: str,
    modality: str,
    description: str,
    limit: int,
) -> StudyQuery:
    """The search the fields ask for; InputError naming what is wrong and what is allowed."""
    try:
        return StudyQuery(
            patient_id=_text(patient_id), accession_number=_text(accession),
            date_from=_date("study date from", date_from or ""),
            date_to=_date("study date to", date_to or ""),
            modality=_text(modality), description=_text(description), limit=limit,
        )  # fmt: skip
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = _LABELS.get(str(error["loc"][0]), "") if error["loc"] else ""
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{field}: {message}" if field else message)
        raise InputError("; ".join(problems)) from None


_LABELS = {"patient_id": "patient ID", "accession_number": "accession number",
           "modality": "modality", "description": "description"}  # fmt: skip


def _text(value: str | None) -> str | None:
    return (value or "").strip() or None


def _series_order(hit: SeriesHit) -> int:
    return hit.series_number if hit.series_number is not None else 1 << 30
