"""Slides read by OpenSlide: Aperio, Hamamatsu, Leica, MIRAX, Philips, DICOM-WSI, generic TIFF."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import cast

import openslide
from PIL import Image

from tools.errors import UnreadableImageError
from tools.slides.base import Slide

_PLAUSIBLE_MPP = (0.05, 100.0)
"""Generic TIFFs often carry 72 dpi (352 µm/px) from the writing software: not a scan."""


def _float(props: Mapping[str, str], key: str) -> float | None:
    try:
        value = float(props[key])
    except (KeyError, ValueError):
        return None
    return value if value > 0 else None


def _mpp(props: Mapping[str, str], key: str) -> float | None:
    value = _float(props, key)
    return value if value and _PLAUSIBLE_MPP[0] <= value <= _PLAUSIBLE_MPP[1] else None


def _background(props: Mapping[str, str]) -> tuple[int, int, int]:
    hexcolour = props.get(openslide.PROPERTY_NAME_BACKGROUND_COLOR, "ffffff")
    try:
        return (int(hexcolour[0:2], 16), int(hexcolour[2:4], 16), int(hexcolour[4:6], 16))
    except ValueError:
        return (255, 255, 255)


class OpenSlideSlide(Slide):
    """A slide opened with OpenSlide; `osr` is the raw handle (DeepZoom uses it directly)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.osr = openslide.OpenSlide(path)
        props = self.osr.properties
        self.properties = dict(props)
        self.format = f"openslide:{props.get(openslide.PROPERTY_NAME_VENDOR, 'unknown')}"
        self.level_dimensions = self.osr.level_dimensions
        self.level_downsamples = self.osr.level_downsamples
        mpp_x = _mpp(props, openslide.PROPERTY_NAME_MPP_X)
        mpp_y = _mpp(props, openslide.PROPERTY_NAME_MPP_Y)
        self.mpp = (mpp_x, mpp_y or mpp_x) if mpp_x else None
        self.objective_power = _float(props, openslide.PROPERTY_NAME_OBJECTIVE_POWER)
        self.background = _background(props)
        self.broken = False

    def _read(self, location: tuple[int, int], level: int, size: tuple[int, int]) -> Image.Image:
        try:
            rgba = self.osr.read_region(location, level, size)
        except openslide.OpenSlideError as exc:
            self.broken = True  # OpenSlide handles stay in the error state: reopen next time
            raise UnreadableImageError(
                f"{self.path.name}: cannot decode the region at {location} (level {level}): {exc}"
            ) from exc
        alpha_min = cast(tuple[tuple[int, int], ...], rgba.getextrema())[3][0]
        if alpha_min == 255:
            return rgba.convert("RGB")
        # Transparent where the scanner captured nothing: flatten onto the background.
        canvas = Image.new("RGB", size, self.background)
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas

    def read_region(
        self, location: tuple[int, int], level: int, size: tuple[int, int]
    ) -> Image.Image:
        """As `Slide.read_region`; OpenSlide pads beyond the edge itself, so no clipping."""
        if not 0 <= level < self.level_count:
            raise ValueError(f"level {level} out of range 0..{self.level_count - 1}")
        if size[0] <= 0 or size[1] <= 0:
            raise ValueError(f"region size must be positive, got {size[0]}×{size[1]}")
        return self._read(location, level, size)

    @property
    def associated_images(self) -> Mapping[str, Image.Image]:
        """Label, macro and thumbnail images the scanner stored (lazily decoded)."""
        return self.osr.associated_images

    def close(self) -> None:
        """Close the OpenSlide handle."""
        self.osr.close()
