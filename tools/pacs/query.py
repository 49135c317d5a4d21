"""What a person may search a PACS for (QIDO-RS), validated before anything is sent."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["StudyQuery"]

_MODALITY = re.compile(r"^[A-Z0-9]{1,16}$")
_TEXT = re.compile(r"^[^\\*?]{1,64}$")


class StudyQuery(BaseModel):
    """Study-level search keys; at least one must be given (no unfiltered listing)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    patient_id: str | None = Field(None, max_length=64)
    accession_number: str | None = Field(None, max_length=16)
    date_from: date | None = None
    date_to: date | None = None
    modality: str | None = Field(None, description="e.g. CT, MR, CR (modalities in the study)")
    description: str | None = Field(None, description="words of the study description")
    limit: int = Field(50, ge=1, le=10_000)

    @field_validator("modality")
    @classmethod
    def _modality(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().upper()
        if not _MODALITY.match(value):
            raise ValueError(f"modality {value!r} must be a DICOM modality code such as CT or MR")
        return value

    @field_validator("patient_id", "accession_number", "description")
    @classmethod
    def _plain_text(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not _TEXT.match(value):
            raise ValueError(
                "search text must be 1-64 characters without '*', '?' or '\\' "
                "(wildcards are added where the search needs them)"
            )
        return value

    @model_validator(mode="after")
    def _something_and_ordered(self) -> StudyQuery:
        keys = (self.patient_id, self.accession_number, self.date_from, self.date_to,
                self.modality, self.description)  # fmt: skip
        if all(k is None for k in keys):
            raise ValueError(
                "give at least one of: patient ID, accession number, study date (from/to), "
                "modality, description"
            )
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError(f"date_from {self.date_from} is after date_to {self.date_to}")
        return self

    def search_filters(self) -> dict[str, Any]:
        """QIDO-RS query keys (PS3.18 §8.3.4): exact IDs, a date range, description words.

        The description's words become one wildcard pattern (``*CT*CHEST*``): no spaces,
        which servers encode and match differently.
        """
        out: dict[str, Any] = {}
        if self.patient_id:
            out["PatientID"] = self.patient_id
        if self.accession_number:
            out["AccessionNumber"] = self.accession_number
        if self.date_from or self.date_to:
            low = self.date_from.strftime("%Y%m%d") if self.date_from else ""
            high = self.date_to.strftime("%Y%m%d") if self.date_to else ""
            out["StudyDate"] = low if low == high else f"{low}-{high}"
        if self.modality:
            out["ModalitiesInStudy"] = self.modality
        if self.description:
            out["StudyDescription"] = "*" + "*".join(self.description.split()) + "*"
        return out
