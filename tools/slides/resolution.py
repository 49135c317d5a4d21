"""Read a level-0 region at a requested resolution: a level, microns per pixel, or power.

The best pyramid level is the coarsest one at least as fine as asked; its pixels are
then resampled to the exact size, so callers never see which level was used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PIL import Image

from tools.errors import ToolArgumentError
from tools.slides.base import Slide
from tools.slides.types import Region, Units

MAX_OUTPUT_PIXELS = 64_000_000
"""A read is refused above this (8000×8000): the caller asked for far too much detail."""


@dataclass(frozen=True)
class Resolution:
    """One requested resolution: `value` in `units`."""

    units: Units
    value: float

    @classmethod
    def one_of(
        cls, level: int | None = None, mpp: float | None = None, power: float | None = None
    ) -> Resolution:
        """Exactly one of level, mpp or power (magnification); anything else is an error."""
        given = [(u, v) for u, v in ((Units.LEVEL, level), (Units.MPP, mpp), (Units.POWER, power))
                 if v is not None]
        if len(given) != 1:
            names = ", ".join(u.value for u, _ in given) or "none"
            raise ToolArgumentError(
                f"give exactly one of level, mpp or power (magnification); got {names}."
            )
        units, value = given[0]
        if value < 0 or (value == 0 and units is not Units.LEVEL):
            raise ToolArgumentError(f"{units.value} must be positive, got {value}.")
        return cls(units, float(value))


def target_downsample(slide: Slide, resolution: Resolution) -> float:
    """Return the level-0 downsample a resolution means for this slide."""
    if resolution.units is Units.LEVEL:
        level = int(resolution.value)
        if level != resolution.value or not 0 <= level < slide.level_count:
            raise ToolArgumentError(
                f"level {resolution.value:g} does not exist; levels are 0..{slide.level_count - 1}."
            )
        return slide.level_downsamples[level]
    if resolution.units is Units.MPP:
        if slide.mpp is None:
            raise ToolArgumentError(
                "this slide does not record microns per pixel; ask by level or power instead."
            )
        return resolution.value / slide.mpp[0]
    info = slide.info()
    if info.objective_power is None:
        raise ToolArgumentError(
            "this slide records neither magnification nor microns per pixel; ask by level."
        )
    return info.objective_power / resolution.value


def read_downsampled(slide: Slide, region: Region, downsample: float) -> Image.Image:
    """RGB pixels of `region` at `downsample` (1 = full resolution), padded beyond the edge."""
    size = (max(1, round(region.width / downsample)), max(1, round(region.height / downsample)))
    if size[0] * size[1] > MAX_OUTPUT_PIXELS:
        raise ToolArgumentError(
            f"a {region.width}×{region.height} region at downsample {downsample:g} would be "
            f"{size[0]}×{size[1]} pixels, over the limit of {MAX_OUTPUT_PIXELS:,}; "
            "ask for a smaller region or a coarser resolution."
        )
    level = slide.best_level_for_downsample(downsample)
    level_ds = slide.level_downsamples[level]
    read_size = (
        max(1, math.ceil(region.width / level_ds)),
        max(1, math.ceil(region.height / level_ds)),
    )
    return slide.read_scaled((region.x, region.y), level, read_size, size)


def read_at(slide: Slide, region: Region, resolution: Resolution) -> Image.Image:
    """RGB pixels of `region` (level 0) at `resolution`."""
    return read_downsampled(slide, region, target_downsample(slide, resolution))
