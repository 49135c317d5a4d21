"""A simple tissue detector and per-crop measurements for models that cannot see images.

Bright, unsaturated pixels are glass; everything else is tissue (Otsu thresholds on
saturation and darkness, then a little morphology). Nuclei-like blobs are connected
spots of nucleus size darker than their surroundings: a rough count, not a diagnosis.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, Field
from scipy import ndimage
from skimage.color import rgb2hed
from skimage.filters import threshold_otsu

from tools.slides.types import Region

_MIN_SATURATION = 15.0
_MAX_GRAY = 215.0
_NUCLEUS_DIAMETER_UM = (4.0, 18.0)
_DEFAULT_DIAMETER_PX = 16.0
"""A nucleus (8 µm) at 20x (0.5 µm/px): assumed when the slide has no pixel size."""
_NUCLEUS_MAX_RED = 90
"""Red channel (0-255) below which an H&E pixel is taken as haematoxylin-dark (nuclear)."""


class TissueRegion(BaseModel):
    """A connected piece of tissue, as a box in level-0 pixels."""

    label: str = Field(description="T1 is the largest piece, T2 the next, ...")
    x: int
    y: int
    width: int
    height: int
    area_fraction: float = Field(description="Share of the slide's tissue in this piece (0-1).")


class CropMeasurements(BaseModel):
    """Numbers describing a crop, so that text-only models can navigate too."""

    tissue_fraction: float = Field(description="Share of the crop that is tissue (0-1).")
    mean_rgb: tuple[int, int, int]
    std_rgb: tuple[int, int, int]
    hematoxylin_od: float = Field(description="Mean haematoxylin optical density in tissue.")
    eosin_od: float = Field(description="Mean eosin optical density in tissue.")
    nuclei_like_blobs: int | None = Field(
        description="Rough count of nucleus-sized dark spots (null below about 7x)."
    )
    nuclei_per_mm2: float | None = Field(default=None, description="Blobs per mm² (mpp known).")


def _otsu(values: NDArray[np.generic], default: float) -> float:
    if values.size == 0 or float(values.min()) == float(values.max()):
        return default
    return float(threshold_otsu(values))  # type: ignore[no-untyped-call]


def tissue_mask(rgb: NDArray[np.uint8]) -> NDArray[np.bool_]:
    """Boolean H×W mask of tissue in an RGB image of a slide."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]  # channel-wise: faster than axis=2
    saturation = np.maximum(np.maximum(r, g), b) - np.minimum(np.minimum(r, g), b)
    gray = ((r.astype(np.uint16) + g + b) // 3).astype(np.uint8)
    # Otsu adapts to faint stains, but within all-tissue crops it splits nuclei from
    # stroma: clamp it to ranges that always keep glass out and stroma in.
    sat_thr = float(np.clip(_otsu(saturation, _MIN_SATURATION), _MIN_SATURATION, 30.0))
    gray_thr = float(np.clip(_otsu(gray, _MAX_GRAY), 120.0, _MAX_GRAY))
    mask = (saturation > sat_thr) | (gray < gray_thr)
    pad = 3  # morphology treats the outside as background: pad by the edge values instead
    mask = np.pad(mask, pad, mode="edge")
    mask = ndimage.binary_closing(ndimage.binary_opening(mask, iterations=1), iterations=2)
    return np.asarray(ndimage.binary_fill_holes(mask))[pad:-pad, pad:-pad]


def tissue_regions(
    mask: NDArray[np.bool_], scale: float, limit: int, min_fraction: float = 0.005
) -> list[TissueRegion]:
    """Return the largest tissue pieces of a thumbnail's mask, boxes scaled to level 0."""
    labels, count = ndimage.label(mask)
    total = int(mask.sum())
    if count == 0 or total == 0:
        return []
    areas = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    boxes = ndimage.find_objects(labels)
    order = [i for i in np.argsort(-areas) if areas[i] / total >= min_fraction][:limit]
    regions = []
    for rank, i in enumerate(order, start=1):
        rows, cols = boxes[i]
        regions.append(
            TissueRegion(
                label=f"T{rank}",
                x=int(cols.start * scale),
                y=int(rows.start * scale),
                width=max(1, round((cols.stop - cols.start) * scale)),
                height=max(1, round((rows.stop - rows.start) * scale)),
                area_fraction=round(float(areas[i]) / total, 3),
            )
        )
    return regions


class ZoomSuggestion(BaseModel):
    """A square of dense tissue worth a closer look, in level-0 pixels."""

    label: str = Field(description="Z1 is the most cellular-looking square, Z2 the next, ...")
    x: int
    y: int
    width: int
    height: int
    tissue_fraction: float
    darkness: float = Field(description="Mean haematoxylin darkness of its tissue (0-1).")


def suggest_zooms(
    thumbnail: NDArray[np.uint8], mask: NDArray[np.bool_], scale: float, cell: int, limit: int
) -> list[ZoomSuggestion]:
    """Return grid squares of `cell` level-0 pixels ranked by tissue × darkness.

    Dark (haematoxylin-rich) tissue is where nuclei crowd: what a pathologist checks
    first, and what a model that cannot see the thumbnail needs to be told.
    """
    step = max(2, round(cell / scale))
    found: list[tuple[float, int, int, int, int, float, float]] = []
    height, width = mask.shape
    for ty in range(0, height, step):
        for tx in range(0, width, step):
            part = mask[ty : ty + step, tx : tx + step]
            fraction = float(part.mean())
            if fraction < 0.25:
                continue
            red = thumbnail[ty : ty + step, tx : tx + step, 0][part]
            darkness = 1.0 - float(red.mean()) / 255.0
            found.append((fraction * darkness, tx, ty, part.shape[1], part.shape[0], fraction,
                          darkness))
    found.sort(key=lambda item: -item[0])
    return [
        ZoomSuggestion(
            label=f"Z{rank}", x=int(tx * scale), y=int(ty * scale),
            width=max(1, round(w * scale)), height=max(1, round(h * scale)),
            tissue_fraction=round(fraction, 2), darkness=round(darkness, 2),
        )
        for rank, (_, tx, ty, w, h, fraction, darkness) in enumerate(found[:limit], start=1)
    ]


def count_nuclei(
    rgb: NDArray[np.uint8], mask: NDArray[np.bool_], um_per_px: float | None
) -> int | None:
    """Count separate nucleus-sized dark spots; None when too coarse (below about 7x).

    Haematoxylin-stained nuclei absorb red light far more than eosin-stained cytoplasm
    and stroma, so in H&E they are the pixels with a dark red channel. Touching nuclei
    merge into one larger spot and are not counted: the figure is a lower bound.
    """
    diameter = _NUCLEUS_DIAMETER_UM[0] * 2 / um_per_px if um_per_px else _DEFAULT_DIAMETER_PX
    if diameter < 6.0:
        return None
    spots = ndimage.binary_opening((rgb[..., 0] < _NUCLEUS_MAX_RED) & mask)
    labels, count = ndimage.label(spots)
    if count == 0:
        return 0
    areas = np.bincount(labels.ravel())[1:]
    lo, hi = np.pi / 4 * (0.4 * diameter) ** 2, np.pi / 4 * (2.2 * diameter) ** 2
    return int(((areas >= lo) & (areas <= hi)).sum())


def measure_crop(rgb: NDArray[np.uint8], um_per_px: float | None) -> CropMeasurements:
    """Tissue fraction, colour and stain statistics, and a nuclei-like blob count."""
    mask = tissue_mask(rgb)
    # Averages need no full resolution: every other pixel is 4× cheaper and as accurate.
    sub, sub_mask = rgb[::2, ::2], mask[::2, ::2]
    flat = sub.reshape(-1, 3).astype(np.float32)
    mean = tuple(round(float(v)) for v in flat.mean(axis=0))
    std = tuple(round(float(v)) for v in flat.std(axis=0))
    h_od = e_od = 0.0
    if sub_mask.any():
        hed = rgb2hed(sub)
        h_od, e_od = float(hed[..., 0][sub_mask].mean()), float(hed[..., 1][sub_mask].mean())
    blobs = count_nuclei(rgb, mask, um_per_px)
    density = None
    if um_per_px and blobs is not None:
        area_mm2 = rgb.shape[0] * rgb.shape[1] * (um_per_px / 1000.0) ** 2
        density = round(blobs / area_mm2, 1)
    return CropMeasurements(
        tissue_fraction=round(float(mask.mean()), 3),
        mean_rgb=(mean[0], mean[1], mean[2]),
        std_rgb=(std[0], std[1], std[2]),
        hematoxylin_od=round(h_od, 4),
        eosin_od=round(e_od, 4),
        nuclei_like_blobs=blobs,
        nuclei_per_mm2=density,
    )


def region_of(box: TissueRegion) -> Region:
    """Return the tissue box as a `Region`."""
    return Region(x=box.x, y=box.y, width=box.width, height=box.height)
