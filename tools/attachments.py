"""What an uploaded file is, decided once when the upload is checked and stored with it.

`AttachmentKind` says how every layer treats a file (shown whole, slice by slice, or
navigated as a slide); `ImageFacts` holds what was learned from its header at upload, so
no caller needs to reopen the file to ask again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Attachment", "AttachmentKind", "ImageClass", "ImageFacts"]


class AttachmentKind(StrEnum):
    """How a stored upload is read."""

    IMAGE = "image"
    """PNG, JPEG, flat TIFF, BMP, GIF: decoded whole."""
    DICOM = "dicom"
    """One DICOM object (possibly multi-frame): decoded frame by frame."""
    SERIES = "series"
    """A stack of slices, read slice by slice: a ZIP of one DICOM series (or of a DICOMDIR
    with its files), or a NIfTI or NRRD volume (told apart by the media type)."""
    SLIDE = "slide"
    """A whole-slide image (vendor format, tiled/pyramidal TIFF, DICOM-WSI level file)."""
    SLIDE_ARCHIVE = "slide_archive"
    """A ZIP of a DICOM-WSI's level files: navigated like a slide."""

    @property
    def is_slide(self) -> bool:
        """Whether the file is navigated region by region rather than decoded whole."""
        return self in (AttachmentKind.SLIDE, AttachmentKind.SLIDE_ARCHIVE)


class ImageClass(StrEnum):
    """What a picture shows, for choosing tools and defaults (from the header or a classifier)."""

    RADIOGRAPH = "radiograph"
    """Grayscale projection radiograph (chest X-ray and the like)."""
    CROSS_SECTION = "cross_section"
    """A CT or MR slice or series."""
    STAINED_TISSUE = "stained_tissue"
    """Bright-field histology: H&E or IHC."""
    FLUORESCENCE = "fluorescence"
    """Fluorescence microscopy (bright nuclei on a dark background)."""
    FUNDUS = "fundus"
    """Colour photograph of the retina."""
    OTHER = "other"


class ImageFacts(BaseModel):
    """De-identified facts read from the header at upload (never names, ids or dates)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    width: int | None = None
    height: int | None = None
    frames: int = Field(1, ge=1, description="frames of a DICOM, slices of a series")
    default_frame: int = Field(0, ge=0, description="0-based frame shown when none is asked")
    modality: str | None = None
    body_part: str | None = None
    spacing_known: bool = False
    """Whether pixel spacing (mm) or microns per pixel is known, so areas are physical."""
    image_class: ImageClass | None = None
    image_class_by: Literal["header", "classifier", "person"] | None = None


@dataclass(frozen=True)
class Attachment:
    """An uploaded file of a session, as tools see it."""

    id: str
    path: Path
    name: str
    media_type: str
    sha256: str
    size_bytes: int
    kind: AttachmentKind = AttachmentKind.IMAGE
    facts: ImageFacts = field(default_factory=ImageFacts)
