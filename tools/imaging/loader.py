"""Load an uploaded image file into pixels plus the metadata tools need."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

from assistant.errors import UnreadableImageError

Image.MAX_IMAGE_PIXELS = None  # our own pixel limit is enforced at upload time


@dataclass(frozen=True)
class LoadedImage:
    """Decoded pixels (H×W or H×W×C) with physical spacing when known."""

    pixels: NDArray[np.generic]
    source_format: str
    mode: str
    spacing_mm: tuple[float, float] | None = None
    modality: str | None = None
    body_part: str | None = None
    window: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def height(self) -> int:
        """Rows."""
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        """Columns."""
        return int(self.pixels.shape[1])

    @property
    def channels(self) -> int:
        """1 for grayscale, 3 or 4 for colour."""
        return 1 if self.pixels.ndim == 2 else int(self.pixels.shape[2])


def load_image(path: Path) -> LoadedImage:
    """Decode an ordinary raster image (PNG, JPEG, TIFF, BMP)."""
    try:
        with Image.open(path) as img:
            img.load()
            fmt = img.format or path.suffix.lstrip(".").upper()
            mode = img.mode
            pixels = np.asarray(img)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise UnreadableImageError(f"{path.name}: not a readable image ({exc})") from exc
    return LoadedImage(pixels=pixels, source_format=fmt, mode=mode)
