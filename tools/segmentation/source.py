"""What a segmentation runs on: an ordinary image, or a region of a whole-slide image.

Whole-slide images are never decoded whole: a box (level-0 pixels) is read at full
resolution, and tissue without a box is found on a thumbnail. The slide's own µm/px gives
the area unit, and results are mapped back to level-0 coordinates by `offset`/`scale`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from tools.attachments import Attachment
from tools.errors import ToolArgumentError, ToolError
from tools.imaging.reader import load_attachment
from tools.segmentation.interactive import clip_box
from tools.segmentation.types import Target
from tools.slides import SLIDES

TISSUE_THUMBNAIL_SIDE = 2048
Box = tuple[int, int, int, int]


@dataclass
class Source:
    """Pixels to segment and how they map to the attachment's own coordinates.

    A level-0 coordinate is ``offset + scale × analysed coordinate``.
    """

    pixels: NDArray[np.generic]
    full_size: tuple[int, int]
    mode: str = ""
    spacing_mm: tuple[float, float] | None = None
    mpp: float | None = None
    modality: str | None = None
    offset: tuple[int, int] = (0, 0)
    scale: float = 1.0
    notes: list[str] = field(default_factory=list)
    slide: bool = False


def open_source(att: Attachment, target: Target, box: Box | None, max_pixels: int) -> Source:
    """The pixels to analyse: the image, or the slide region in `box` (or a thumbnail).

    The attachment's kind (decided at upload) says which; an image opens at its default
    frame (a series' middle slice).
    """
    if att.kind.is_slide:
        return _slide_source(att.path, target, box, max_pixels)
    img = load_attachment(att)
    return Source(img.pixels, (img.width, img.height), img.mode, img.spacing_mm, None,
                  img.modality, notes=list(img.notes))  # fmt: skip


def _slide_source(path: Path, target: Target, box: Box | None, max_pixels: int) -> Source:
    slide = SLIDES.get(path)
    width, height = slide.dimensions
    mpp = slide.mpp[0] if slide.mpp else None
    if box is None and target is Target.TISSUE:
        thumb = np.asarray(slide.thumbnail(TISSUE_THUMBNAIL_SIDE).convert("RGB"))
        scale = width / thumb.shape[1]
        note = (
            f"whole slide analysed on a {thumb.shape[1]}×{thumb.shape[0]} thumbnail (÷{scale:.1f})"
        )
        return Source(thumb, (width, height), "RGB", None, mpp and mpp * scale, scale=scale,
                      notes=[note], slide=True)  # fmt: skip
    if box is None:
        raise ToolArgumentError(
            f"this is a whole-slide image ({width}×{height} px): give a box "
            "{x, y, width, height} in level-0 pixels around the region to segment (at most "
            f"{max_pixels:,} px), e.g. a region seen with slide_zoom; only target 'tissue' "
            "works on the whole slide."
        )
    x0, y0, x1, y1 = clip_box(box, (height, width))
    if x1 <= x0 or y1 <= y0:
        bx0, by0, bx1, by1 = box
        raise ToolArgumentError(
            f"box x={bx0}, y={by0}, width={bx1 - bx0}, height={by1 - by0} lies outside the "
            f"{width}×{height} slide (x in 0..{width - 1}, y in 0..{height - 1})."
        )
    if (x1 - x0) * (y1 - y0) > max_pixels:
        raise ToolError(
            f"box of {x1 - x0}×{y1 - y0} px is over segment's {max_pixels:,} px limit: "
            "give a smaller box."
        )
    region = np.asarray(slide.read_region((x0, y0), 0, (x1 - x0, y1 - y0)).convert("RGB"))
    note = f"slide region x={x0}, y={y0}, width={x1 - x0}, height={y1 - y0} read at full resolution"
    return Source(region, (width, height), "RGB", None, mpp, offset=(x0, y0), notes=[note],
                  slide=True)  # fmt: skip
