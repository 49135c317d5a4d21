"""Domain types of the slide tools: units, regions in level-0 pixels, slide metadata."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


class Units(StrEnum):
    """How a resolution is given: a pyramid level, microns per pixel, or magnification."""

    LEVEL = "level"
    MPP = "mpp"
    POWER = "power"


class Region(BaseModel):
    """A rectangle in level-0 (full-resolution) pixel coordinates."""

    x: int
    y: int
    width: int = Field(gt=0)
    height: int = Field(gt=0)

    @property
    def right(self) -> int:
        """One past the last column."""
        return self.x + self.width

    @property
    def bottom(self) -> int:
        """One past the last row."""
        return self.y + self.height

    def clipped(self, width: int, height: int) -> Region | None:
        """Return the part inside a `width`×`height` slide, or None when they do not overlap."""
        x0, y0 = max(self.x, 0), max(self.y, 0)
        x1, y1 = min(self.right, width), min(self.bottom, height)
        if x1 <= x0 or y1 <= y0:
            return None
        return Region(x=x0, y=y0, width=x1 - x0, height=y1 - y0)


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
