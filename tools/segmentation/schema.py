"""The segment tool's argument model, shared by the 2-D path (`tool`) and the CT path (`ct`)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from tools.geometry import Box
from tools.registry import ImageId, ToolArgs
from tools.segmentation.backends import Backend
from tools.segmentation.types import Target

__all__ = ["MAX_POINTS", "Point", "SegmentArgs"]

Pixel = Annotated[int, Field(ge=0)]
Point = tuple[Pixel, Pixel]
MAX_POINTS = 5
"""Few on purpose: small models fill optional arrays, and long ones truncate the action."""


class SegmentArgs(ToolArgs):
    """Arguments of segment."""

    image_id: ImageId
    target: Target = Field(
        description=(
            "nuclei_he: cell nuclei in an H&E image (counted); nuclei_fluorescence: nuclei in "
            "a fluorescence image (counted); tissue: tissue vs glass on a slide; lung_fields: "
            "both lungs on a frontal chest X-ray; retinal_vessels: vessels on a fundus photo; "
            "prompted: the object at the given points or inside the box; ct_organs: organs, "
            "bones, vessels and muscles of a CT series (3-D, volumes in mL, backend "
            "totalsegmentator)."
        )
    )
    points: list[Point] = Field(
        default_factory=list,
        max_length=MAX_POINTS,
        description="[[x, y], ...] pixels on the object (target prompted).",
    )
    background_points: list[Point] = Field(
        default_factory=list,
        max_length=MAX_POINTS,
        description="[[x, y], ...] pixels NOT on the object (target prompted).",
    )
    box: Box | None = Field(
        default=None,
        description="{x, y, width, height} pixels: the object (prompted) or the region to "
        "analyse.",
    )
    microns_per_pixel: float | None = Field(
        default=None,
        gt=0,
        le=100,
        description="Microscopy scale in µm/px if known (e.g. 0.5 at 20x).",
    )
    backend: Backend = Field(
        default="classical",
        description="classical (default), sam (prompted only) or totalsegmentator "
        "(ct_organs; chosen automatically for it).",
    )
