"""A question about a region the user drew on a slide starts by looking at that region.

The slide viewer turns a drawn box into a message such as ``Look at slide img2, region
x=1200, y=800, width=400, height=300 (level-0 pixels): ...``; users can also type it. Such
a message plans the turn's first step, `slide_zoom` on exactly that box, so the model sees
the region before it answers instead of having to copy the numbers into a call itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tools.attachments import Attachment
from tools.slides import is_slide

_REGION = re.compile(
    r"\bslide\s+(?P<image_id>[A-Za-z]+\d+)\s*,?\s*region\s+"
    r"x\s*=\s*(?P<x>\d+)\s*,\s*y\s*=\s*(?P<y>\d+)\s*,\s*"
    r"width\s*=\s*(?P<width>\d+)\s*,\s*height\s*=\s*(?P<height>\d+)",
    re.IGNORECASE,
)
ZOOM_TOOL = "slide_zoom"


def region_call(text: str, attachments: Mapping[str, Attachment]) -> dict[str, Any] | None:
    """The `slide_zoom` call a message about a drawn region asks for, or None.

    Only the first region counts, and only when it names an attached whole-slide image;
    the zoom tool itself validates the box (bad boxes go back to the model as errors).
    """
    match = _REGION.search(text)
    if match is None:
        return None
    image_id = match["image_id"]
    attachment = attachments.get(image_id)
    if attachment is None or not is_slide(attachment.path):
        return None
    box = {k: int(match[k]) for k in ("x", "y", "width", "height")}
    return {"name": ZOOM_TOOL, "args": {"image_id": image_id, **box}}
