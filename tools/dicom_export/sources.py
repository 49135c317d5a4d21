"""The original DICOM instances behind an attachment, in the order the tools used them.

SEG and SR reference the source images, so they are built from the raw stored files
(real UIDs and patient module), never from the de-identified copies the model saw.
A series archive gives its slices in anatomical order (slice ``i`` of the tools is
``datasets[i]``); a single DICOM file gives one dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset

from tools.attachments import Attachment, AttachmentKind
from tools.errors import ToolError
from tools.imaging.dicom import frame_count, read_dicom
from tools.imaging.volume import open_series
from tools.imaging.volume_header import VOLUME_MEDIA_TYPES

__all__ = ["SourceImages", "source_images"]


@dataclass(frozen=True)
class SourceImages:
    """Raw datasets of an attachment, one per slice (or one multi-frame dataset)."""

    image_id: str
    datasets: tuple[Dataset, ...]
    frames: int
    """Frames of the image the tools saw: slices of a series, frames of one file."""

    @property
    def multiframe(self) -> bool:
        """Whether the frames live in one multi-frame dataset."""
        return len(self.datasets) == 1 and self.frames > 1


def _read(path: Path) -> Dataset:
    ds, _ = read_dicom(path)
    return ds


def source_images(att: Attachment, key: str) -> SourceImages:
    """The original datasets of a DICOM attachment; ToolError for other kinds."""
    if att.kind is AttachmentKind.SERIES and att.media_type not in VOLUME_MEDIA_TYPES:
        series = open_series(att.path, key)
        if series.count != len(series.series.files):
            raise ToolError(
                f"{att.id} is a series of multi-frame files: DICOM SEG export supports a "
                "series of single-frame slices or one multi-frame file"
            )
        datasets = tuple(_read(path) for path, _ in series.slices)
        return SourceImages(att.id, datasets, len(datasets))
    if att.kind is AttachmentKind.DICOM:
        ds = _read(att.path)
        return SourceImages(att.id, (ds,), frame_count(ds))
    raise ToolError(
        f"{att.id} is not a DICOM image ({att.media_type}): DICOM SEG and SR need DICOM "
        "source images; export its masks as PNG or NIfTI instead"
    )
