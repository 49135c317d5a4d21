"""An in-memory slide over an ordinary image: for tests and for large PNG/JPEG uploads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

from tools.errors import UnreadableImageError
from tools.slides.base import Slide

_LEVEL_FACTOR = 4
_SMALLEST_SIDE = 512


class ArraySlide(Slide):
    """A slide over an H×W×3 (or H×W) uint8 array, with a ×4 pyramid built once."""

    def __init__(
        self,
        pixels: NDArray[np.uint8] | Image.Image,
        path: Path = Path("array"),
        mpp: float | None = None,
        objective_power: float | None = None,
    ) -> None:
        image = pixels if isinstance(pixels, Image.Image) else Image.fromarray(np.asarray(pixels))
        base = image.convert("RGB")
        self.path = path
        self.format = "memory:image"
        self.mpp = (mpp, mpp) if mpp else None
        self.objective_power = objective_power
        self.properties = {}
        self._levels = [base]
        while max(self._levels[-1].size) > _SMALLEST_SIDE and min(self._levels[-1].size) >= 8:
            self._levels.append(self._levels[-1].reduce(_LEVEL_FACTOR))
        self.level_dimensions = tuple(level.size for level in self._levels)
        w0, h0 = base.size
        self.level_downsamples = tuple(
            (w0 / w + h0 / h) / 2 for w, h in self.level_dimensions
        )

    @classmethod
    def from_file(cls, path: Path) -> ArraySlide:
        """Decode an ordinary image file (PNG, JPEG, BMP, flat TIFF) into a slide."""
        try:
            with Image.open(path) as img:
                img.load()
                return cls(img, path=path)
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise UnreadableImageError(f"{path.name}: not a readable image ({exc})") from exc

    def _read(self, location: tuple[int, int], level: int, size: tuple[int, int]) -> Image.Image:
        ds = self.level_downsamples[level]
        x, y = round(location[0] / ds), round(location[1] / ds)
        lw, lh = self.level_dimensions[level]
        x, y = min(max(x, 0), lw - size[0]), min(max(y, 0), lh - size[1])
        return self._levels[level].crop((x, y, x + size[0], y + size[1]))

    def close(self) -> None:
        """Drop the pixels."""
        self._levels = []
