"""Axis guides: rulers labelled in level-0 pixels around a rendered slide region.

The model reads coordinates off these rulers to ask for the next zoom, so labels are
plain integers (no "k" suffix a small model could misread) on a white margin that
never covers tissue, with faint grid lines across the image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

from tools.slides.types import Region

TOP, LEFT = 20, 56
_GRID = (0, 120, 255, 70)
_TEXT = (0, 0, 0)
_BOX = (255, 40, 40)
_BOX_COLOURS = {"T": _BOX, "Z": (20, 90, 255)}
"""Tissue pieces red, suggested zooms blue."""


def nice_step(span: float, ticks: int = 6) -> int:
    """Return a 1/2/5×10^k step giving about `ticks` intervals over `span`."""
    raw = max(span / ticks, 1.0)
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return int(factor * power)
    return int(10 * power)  # pragma: no cover - the loop always returns


def draw_guides(
    image: Image.Image,
    region: Region,
    boxes: Sequence[tuple[str, Region]] = (),
) -> Image.Image:
    """`image` (showing `region` of level 0) on a margin with rulers, plus labelled boxes."""
    sx, sy = image.width / region.width, image.height / region.height
    font = ImageFont.load_default(size=12)
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    grid = ImageDraw.Draw(overlay)
    canvas = Image.new("RGB", (image.width + LEFT, image.height + TOP), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    step = nice_step(max(region.width, region.height))
    for value in range(math.ceil(region.x / step) * step, region.right + 1, step):
        px = round((value - region.x) * sx)
        grid.line([(px, 0), (px, image.height)], fill=_GRID, width=1)
        draw.line([(LEFT + px, TOP - 5), (LEFT + px, TOP)], fill=_TEXT)
        draw.text((LEFT + px, TOP - 6), str(value), fill=_TEXT, font=font, anchor="mb")
    for value in range(math.ceil(region.y / step) * step, region.bottom + 1, step):
        py = round((value - region.y) * sy)
        grid.line([(0, py), (image.width, py)], fill=_GRID, width=1)
        draw.line([(LEFT - 5, TOP + py), (LEFT, TOP + py)], fill=_TEXT)
        draw.text((LEFT - 7, TOP + py), str(value), fill=_TEXT, font=font, anchor="rm")
    for label, box in boxes:
        colour = (*_BOX_COLOURS.get(label[:1], _BOX), 255)
        inset = 0 if label.startswith("T") else 3  # neighbouring grid boxes stay apart
        x0, y0 = (box.x - region.x) * sx + inset, (box.y - region.y) * sy + inset
        x1, y1 = (box.right - region.x) * sx - inset, (box.bottom - region.y) * sy - inset
        grid.rectangle([x0, y0, x1, y1], outline=colour, width=2)
        left, top, right, bottom = grid.textbbox((x0 + 4, y0 + 3), label, font=font)
        grid.rectangle([left - 2, top - 1, right + 2, bottom + 1], fill=(255, 255, 255, 220))
        grid.text((x0 + 4, y0 + 3), label, fill=colour, font=font)
    framed = Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB")
    canvas.paste(framed, (LEFT, TOP))
    return canvas
