"""Search results read from QIDO-RS DICOM JSON: studies and series as plain values.

These hold identifying data (patient name, ID, birth date): they are for the person who
searched only, never for the model, the logs or the conversation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from tools.imaging.limits import captured_warnings

__all__ = ["NON_IMAGE_MODALITIES", "SeriesHit", "StudyHit", "series_hit", "study_hit"]

NON_IMAGE_MODALITIES = frozenset({"SEG", "SR", "PR", "KO", "RTSTRUCT", "REG", "DOC", "RWV"})
"""Series that hold no image to attach (segmentations, reports, presentation states)."""


def _dataset(item: dict[str, Any]) -> Dataset:
    with captured_warnings():  # pydicom's validation warnings would quote the values
        return Dataset.from_json(item)


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, MultiValue | list | tuple):
        return "\\".join(str(v) for v in value)
    return str(value)


def _int(ds: Dataset, keyword: str) -> int | None:
    try:
        return int(str(ds.get(keyword)))
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class StudyHit:
    """One study found by QIDO-RS (identifying: show to the person who searched only)."""

    study_uid: str
    patient_name: str
    patient_id: str
    birth_date: str
    study_date: str
    accession_number: str
    description: str
    modalities: str
    series_count: int | None
    instance_count: int | None


@dataclass(frozen=True)
class SeriesHit:
    """One series of a study found by QIDO-RS."""

    study_uid: str
    series_uid: str
    modality: str
    series_number: int | None
    description: str
    instance_count: int | None

    @property
    def is_image(self) -> bool:
        """Whether the series holds images (not a SEG, SR, presentation state...)."""
        return self.modality.upper() not in NON_IMAGE_MODALITIES


def study_hit(item: dict[str, Any]) -> StudyHit:
    """A `StudyHit` from one QIDO-RS study result."""
    ds = _dataset(item)
    return StudyHit(
        study_uid=_text(ds, "StudyInstanceUID"),
        patient_name=_text(ds, "PatientName"),
        patient_id=_text(ds, "PatientID"),
        birth_date=_text(ds, "PatientBirthDate"),
        study_date=_text(ds, "StudyDate"),
        accession_number=_text(ds, "AccessionNumber"),
        description=_text(ds, "StudyDescription"),
        modalities=_text(ds, "ModalitiesInStudy"),
        series_count=_int(ds, "NumberOfStudyRelatedSeries"),
        instance_count=_int(ds, "NumberOfStudyRelatedInstances"),
    )


def series_hit(item: dict[str, Any], study_uid: str) -> SeriesHit:
    """A `SeriesHit` from one QIDO-RS series result."""
    ds = _dataset(item)
    return SeriesHit(
        study_uid=_text(ds, "StudyInstanceUID") or study_uid,
        series_uid=_text(ds, "SeriesInstanceUID"),
        modality=_text(ds, "Modality"),
        series_number=_int(ds, "SeriesNumber"),
        description=_text(ds, "SeriesDescription"),
        instance_count=_int(ds, "NumberOfSeriesRelatedInstances"),
    )
