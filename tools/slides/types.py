"""Domain types of the slide tools: units, regions in level-0 pixels, slide metadata."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field

from tools.geometry import Box


class Units(StrEnum):
    """How a resolution is given: a pyramid level, microns per pixel, or magnification."""

    LEVEL = "level"
    MPP = "mpp"
    POWER = "power"


Region = Box
"""A rectangle in level-0 (full-resolution) pixel coordinates: the one `Box` convention."""


class LevelInfo(BaseModel):
    """One pyramid level."""

    level: int
    width: int
    height: int
    downsample: float


class SlideInfo(BaseModel):
    """What the model and the UI learn about a slide."""

    format: str = Field(description="Reader and vendor, e.g. 'openslide:aperio'.")
    width: int = Field(description="Level-0 width in pixels.")
    height: int = Field(description="Level-0 height in pixels.")
    levels: list[LevelInfo]
    mpp: float | None = Field(default=None, description="Microns per level-0 pixel (x), if known.")
    objective_power: float | None = Field(
        None, description="Scanner objective magnification of level 0, e.g. 20 or 40."
    )
    power_estimated: bool = Field(
        False, description="True when the magnification was estimated from mpp (10 / mpp)."
    )
    associated_images: list[str] = Field(default_factory=list)
