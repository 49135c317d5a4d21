"""Per-structure measurements in physical units: area, bounding box, centroid."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, Field
from scipy import ndimage as ndi

from tools.geometry import Box
from tools.segmentation.types import Segmentation

AreaUnit = Literal["mm²", "µm²", "px"]


class Area(BaseModel):
    """An area with its unit (mm² from DICOM spacing, µm² from µm/px, else pixels)."""

    value: float
    unit: AreaUnit


class Structure(BaseModel):
    """One segmented structure (a nucleus, a lung, the vessel tree)."""

    label: int = Field(description="Value of this structure in the mask PNG.")
    name: str
    area: Area
    area_px: int
    bbox: Box = Field(description="Bounding box in pixels.")
    centroid: tuple[float, float] = Field(description="[x, y] in pixels.")


def pixel_area(spacing_mm: tuple[float, float] | None, mpp: float | None) -> tuple[float, AreaUnit]:
    """Area of one pixel and its unit: spacing (mm) wins over µm/px, else 1 px."""
    if spacing_mm is not None:
        return spacing_mm[0] * spacing_mm[1], "mm²"
    if mpp is not None:
        return mpp * mpp, "µm²"
    return 1.0, "px"


def round_sig(value: float, digits: int = 4) -> float:
    """Round to `digits` significant digits but never into the integer part."""
    if value == 0:
        return 0.0
    return round(value, max(0, digits - 1 - int(np.floor(np.log10(abs(value))))))


def measure(
    seg: Segmentation, spacing_mm: tuple[float, float] | None, mpp: float | None
) -> list[Structure]:
    """Measure every non-empty label of `seg`, in label order."""
    factor, unit = pixel_area(spacing_mm, mpp)
    labels = seg.labels
    n = int(labels.max()) if labels.size else 0
    if n == 0:
        return []
    counts = np.bincount(labels.ravel(), minlength=n + 1)
    present = [i for i in range(1, n + 1) if counts[i] > 0]
    slices = ndi.find_objects(labels)
    out = []
    for label in present:
        sl = slices[label - 1]
        assert sl is not None
        ys, xs = np.nonzero(labels[sl] == label)
        cy, cx = ys.mean() + sl[0].start, xs.mean() + sl[1].start
        out.append(
            Structure(
                label=label,
                name=seg.name_of(label),
                area=Area(value=round_sig(counts[label] * factor), unit=unit),
                area_px=int(counts[label]),
                bbox=Box.from_corners(sl[1].start, sl[0].start, sl[1].stop, sl[0].stop),
                centroid=(round(float(cx), 1), round(float(cy), 1)),
            )
        )
    return out
