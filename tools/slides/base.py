"""The slide interface every reader implements (OpenSlide, tifffile, in-memory array).

Readers only decode rectangles that lie inside a level; this base class handles the
rest (padding beyond the edge, thumbnails, best-level choice, metadata) so that every
backend behaves the same way.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from PIL import Image

from tools.slides.types import LevelInfo, SlideInfo

Image.MAX_IMAGE_PIXELS = None  # slides are large on purpose; regions are bounded by callers

WHITE = (255, 255, 255)
_WHOLE_LEVEL_PIXELS = 16_000_000
"""Thumbnails read larger levels in bands of rows, to bound memory."""


class Slide(ABC):
    """A multi-resolution image addressed in level-0 pixel coordinates.

    Subclasses set the attributes below in `__init__` and implement `_read` and `close`.
    """

    path: Path
    format: str
    level_dimensions: tuple[tuple[int, int], ...]
    level_downsamples: tuple[float, ...]
    mpp: tuple[float, float] | None = None
    objective_power: float | None = None
    properties: Mapping[str, str] = {}
    background: tuple[int, int, int] = WHITE
    broken: bool = False
    """Set when the handle can no longer be trusted (caches reopen it)."""

    @abstractmethod
    def _read(self, location: tuple[int, int], level: int, size: tuple[int, int]) -> Image.Image:
        """RGB pixels of a rectangle lying wholly inside `level` (location in level 0)."""

    @abstractmethod
    def close(self) -> None:
        """Release file handles."""

    @property
    def associated_images(self) -> Mapping[str, Image.Image]:
        """Label, macro and similar side images, by name (empty when there are none)."""
        return {}

    def __enter__(self) -> Slide:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def level_count(self) -> int:
        """Number of pyramid levels."""
        return len(self.level_dimensions)

    @property
    def dimensions(self) -> tuple[int, int]:
        """Level-0 (width, height)."""
        return self.level_dimensions[0]

    def best_level_for_downsample(self, downsample: float) -> int:
        """Return the coarsest level whose downsample does not exceed `downsample`."""
        best = 0
        for i, ds in enumerate(self.level_downsamples):
            if ds <= downsample * (1 + 1e-6):
                best = i
        return best

    def read_region(
        self, location: tuple[int, int], level: int, size: tuple[int, int]
    ) -> Image.Image:
        """RGB image of `size` level pixels whose top-left is `location` in level 0.

        Parts beyond the slide's edge are filled with the background colour.
        """
        if not 0 <= level < self.level_count:
            raise ValueError(f"level {level} out of range 0..{self.level_count - 1}")
        width, height = size
        if width <= 0 or height <= 0:
            raise ValueError(f"region size must be positive, got {width}×{height}")
        ds = self.level_downsamples[level]
        lw, lh = self.level_dimensions[level]
        lx, ly = math.floor(location[0] / ds), math.floor(location[1] / ds)
        ix0, iy0 = max(lx, 0), max(ly, 0)
        ix1, iy1 = min(lx + width, lw), min(ly + height, lh)
        if (ix0, iy0, ix1, iy1) == (lx, ly, lx + width, ly + height):
            return self._read(location, level, size)
        canvas = Image.new("RGB", size, self.background)
        if ix1 > ix0 and iy1 > iy0:
            inside_loc = (
                location[0] + round((ix0 - lx) * ds),
                location[1] + round((iy0 - ly) * ds),
            )
            part = self._read(inside_loc, level, (ix1 - ix0, iy1 - iy0))
            canvas.paste(part, (ix0 - lx, iy0 - ly))
        return canvas

    def read_scaled(
        self,
        location: tuple[int, int],
        level: int,
        size: tuple[int, int],
        out_size: tuple[int, int],
    ) -> Image.Image:
        """Return `read_region(location, level, size)` resized to `out_size`.

        Areas too large to hold at once (a one-level slide seen whole) are read in bands
        of rows, each shrunk before the next is read, so memory stays bounded.
        """
        width, height = size
        if width * height <= _WHOLE_LEVEL_PIXELS or out_size[1] >= height:
            image = self.read_region(location, level, size)
            if image.size != out_size:
                image = image.resize(out_size, Image.Resampling.LANCZOS, reducing_gap=3.0)
            return image
        ds = self.level_downsamples[level]
        out = Image.new("RGB", out_size, self.background)
        band = max(1, _WHOLE_LEVEL_PIXELS // width)
        for y in range(0, height, band):
            rows = min(band, height - y)
            top, bottom = round(y * out_size[1] / height), round((y + rows) * out_size[1] / height)
            if bottom <= top:
                continue
            origin = (location[0], location[1] + round(y * ds))
            strip = self.read_region(origin, level, (width, rows))
            out.paste(strip.resize((out_size[0], bottom - top), Image.Resampling.BOX), (0, top))
        return out

    def thumbnail(self, max_side: int) -> Image.Image:
        """Return the whole slide as RGB, its longer side at most `max_side` pixels."""
        width, height = self.dimensions
        scale = max(max(width, height) / max_side, 1.0)
        level = self.best_level_for_downsample(scale)
        size = (max(1, round(width / scale)), max(1, round(height / scale)))
        return self.read_scaled((0, 0), level, self.level_dimensions[level], size)

    def info(self) -> SlideInfo:
        """Metadata for the model and the UI; magnification estimated from mpp if absent."""
        power, estimated = self.objective_power, False
        if power is None and self.mpp is not None:
            power, estimated = round(10.0 / self.mpp[0], 1), True
        return SlideInfo(
            format=self.format,
            width=self.dimensions[0],
            height=self.dimensions[1],
            levels=[
                LevelInfo(level=i, width=w, height=h, downsample=round(ds, 4))
                for i, ((w, h), ds) in enumerate(
                    zip(self.level_dimensions, self.level_downsamples, strict=True)
                )
            ],
            mpp=round(self.mpp[0], 5) if self.mpp else None,
            objective_power=power,
            power_estimated=estimated,
            associated_images=sorted(self.associated_images),
        )

    def __repr__(self) -> str:
        width, height = self.dimensions
        return f"{type(self).__name__}({self.path.name!r}, {width}×{height})"
