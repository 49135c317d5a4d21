"""A question about a region the user drew on a slide starts by looking at that region.

The slide viewer sends the drawn box as structured data (`DrawnRegion`) with the message;
a typed message such as ``Look at slide img2, region x=1200, y=800, width=400, height=300
(level-0 pixels): ...`` works too. Either plans the turn's first step, `slide_zoom` on
exactly that box, so the model sees the region before it answers instead of having to
copy the numbers into a call itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from tools.attachments import Attachment
from tools.geometry import Box

_REGION = re.compile(
    r"\bslide\s+(?P<image_id>[A-Za-z]+\d+)\s*,?\s*region\s+"
    r"x\s*=\s*(?P<x>\d+)\s*,\s*y\s*=\s*(?P<y>\d+)\s*,\s*"
    r"width\s*=\s*(?P<width>\d+)\s*,\s*height\s*=\s*(?P<height>\d+)",
    re.IGNORECASE,
)
ZOOM_TOOL = "slide_zoom"


@dataclass(frozen=True)
class DrawnRegion:
    """A box the person drew on an attached slide (level-0 pixels)."""

    image_id: str
    box: Box


def parse_region(text: str) -> DrawnRegion | None:
    """The first region named in a typed message, or None."""
    match = _REGION.search(text)
    if match is None:
        return None
    try:
        box = Box(**{k: int(match[k]) for k in ("x", "y", "width", "height")})
    except ValidationError:  # e.g. width=0: not a region
        return None
    return DrawnRegion(match["image_id"], box)


def region_call(
    text: str, attachments: Mapping[str, Attachment], region: DrawnRegion | None = None
) -> dict[str, Any] | None:
    """The `slide_zoom` call a drawn `region` (or, without one, the message) asks for.

    Only when it names an attached whole-slide image; the zoom tool itself validates the
    box against the slide (bad boxes go back to the model as errors).
    """
    region = region or parse_region(text)
    if region is None:
        return None
    attachment = attachments.get(region.image_id)
    if attachment is None or not attachment.kind.is_slide:
        return None
    box = region.box.model_dump()
    return {"name": ZOOM_TOOL, "args": {"image_id": region.image_id, "box": box}}
