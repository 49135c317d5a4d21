"""The `describe_image` tool: size, modality, body part, spacing, window and statistics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from tools.attachments import AttachmentKind
from tools.imaging.deid import safe_display_name
from tools.imaging.reader import load_attachment
from tools.imaging.volume import SeriesFile, open_series
from tools.imaging.volume_file import open_volume
from tools.imaging.volume_header import VOLUME_MEDIA_TYPES
from tools.registry import ImageId, ToolArgs, ToolContext, ToolResult

_NOT_FOR_MODEL = frozenset(
    {"Modality", "BodyPartExamined", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"}
)
"""Reported as fields already, or long pseudonymous UIDs that only cost a small model tokens."""


class DescribeImageArgs(ToolArgs):
    """Arguments of describe_image."""

    image_id: ImageId


class ChannelStats(BaseModel):
    """Intensity statistics of one channel."""

    channel: str
    min: float
    max: float
    mean: float
    std: float
    p01: float = Field(description="1st percentile")
    p99: float = Field(description="99th percentile")


class SeriesFacts(BaseModel):
    """A series attachment (a ZIP of DICOM slices, or a NIfTI/NRRD volume); UIDs de-identified."""

    slices: int
    slice_spacing_mm: float | None = Field(default=None, description="Between slice centres")
    shown_slice: int = Field(description="Slice the statistics are from (the middle), from 1")
    slice_order: str | None = Field(default=None, description="How a volume's slices run")
    series_number: int | None = None
    series_uid: str | None = Field(default=None, description="DICOM only")
    study_uid: str | None = Field(default=None, description="DICOM only")
    other_series: list[str] = Field(
        default_factory=list, description="Other series in the archive (not used)"
    )


def _series_facts(series: SeriesFile, shown: int) -> SeriesFacts:
    return SeriesFacts(
        slices=series.count,
        slice_spacing_mm=series.series.slice_spacing_mm,
        shown_slice=shown + 1,
        series_number=series.series.series_number,
        series_uid=series.series.series_uid,
        study_uid=series.series.study_uid,
        other_series=series.describe_others(),
    )


def _volume_facts(path: Path, shown: int) -> SeriesFacts:
    geometry = open_volume(path).geometry
    return SeriesFacts(
        slices=geometry.shape[0],
        slice_spacing_mm=geometry.spacing_mm[0] if geometry.spacing_known else None,
        shown_slice=shown + 1,
        slice_order="axial, from inferior to superior"
        if geometry.stored_axes
        else "as stored (the header gives no orientation)",
    )


class DescribeImageResult(ToolResult):
    """What describe_image reports (DICOM header facts are de-identified)."""

    image_id: str
    file_name: str
    format: str
    width_px: int
    height_px: int
    channels: int
    mode: str
    dtype: str
    frames: int = 1
    modality: str | None = None
    body_part: str | None = None
    pixel_spacing_mm: tuple[float, float] | None = None
    units: str | None = Field(default=None, description="Unit of pixel values, e.g. HU for CT")
    window: str | None = Field(default=None, description="Default display window from the file")
    header: dict[str, str] = Field(default_factory=dict, description="De-identified DICOM facts")
    series: SeriesFacts | None = None
    stats: list[ChannelStats]
    notes: list[str] = Field(default_factory=list)


def _stats(name: str, values: np.ndarray) -> ChannelStats:
    v = values.astype(np.float64).ravel()
    p01, p99 = np.percentile(v, [1, 99])
    return ChannelStats(
        channel=name,
        min=round(float(v.min()), 3),
        max=round(float(v.max()), 3),
        mean=round(float(v.mean()), 3),
        std=round(float(v.std()), 3),
        p01=round(float(p01), 3),
        p99=round(float(p99), 3),
    )


def describe_image(args: DescribeImageArgs, ctx: ToolContext) -> DescribeImageResult:
    """Describe an attached image. Use it first to learn what an image is.

    Reports format, width and height in pixels, number of frames, modality, body part,
    pixel spacing in mm, value units (HU for CT), the file's display window and
    per-channel intensity statistics (min, max, mean, std, 1st/99th percentiles). For a
    series (a CT/MR stack: a DICOM series or a NIfTI/NRRD volume) it also reports the
    slice count and spacing; frames are its slices and the statistics are of the middle
    slice.
    """
    att = ctx.attachment(args.image_id)
    key = ctx.deid_key
    series = att.kind is AttachmentKind.SERIES
    volume = series and att.media_type in VOLUME_MEDIA_TYPES
    shown = att.facts.default_frame if series else 0
    img = load_attachment(att, frame=shown, deid_key=key)  # refuses whole-slide images
    px = img.pixels
    names = ["gray"] if px.ndim == 2 else list("RGBA"[: px.shape[2]])
    stats = (
        [_stats(names[0], px)]
        if px.ndim == 2
        else [_stats(n, px[..., i]) for i, n in enumerate(names)]
    )
    header = {k: v for k, v in img.metadata.items() if k not in _NOT_FOR_MODEL}
    return DescribeImageResult(
        image_id=att.id,
        file_name=safe_display_name(att.name, att.media_type, key),
        format=img.source_format,
        width_px=img.width,
        height_px=img.height,
        channels=img.channels,
        mode=img.mode,
        dtype=str(px.dtype),
        frames=img.frame_count,
        modality=img.modality,
        body_part=img.body_part,
        pixel_spacing_mm=img.spacing_mm,
        units=img.units,
        window=img.window,
        header=header,
        series=(
            _volume_facts(att.path, shown)
            if volume
            else _series_facts(open_series(att.path, key), shown)
            if series
            else None
        ),
        stats=stats,
        notes=img.notes,
    )
