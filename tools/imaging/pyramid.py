"""Deep-zoom tiles of one frame's modality values, windowed on request, and values at a pixel.

The image viewer (ui/image_viewer.py) shows radiology images the way slides are shown:
OpenSeadragon asks for 512-pixel tiles of a Deep Zoom pyramid, so zooming in shows the
stored pixels, not an enlarged preview. Unlike slide tiles, these are rendered from the
*modality values* (Hounsfield units for CT, after Rescale Slope/Intercept) with the window
the person chose, so a window/level drag re-renders only the tiles on screen. The values
under the cursor come from the same array, never from the 8-bit rendering.

A `Plane` is one decoded frame; `PlaneCache` keeps the few most recently viewed ones.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from tools.attachments import Attachment
from tools.errors import InputError, ToolArgumentError
from tools.imaging.image import LoadedImage
from tools.imaging.reader import load_attachment
from tools.imaging.render import encode_png
from tools.imaging.windowing import Window, apply_window, full_range, percentile_window

TILE_SIZE = 512
"""Tile side in pixels: a 512² CT is one tile, a 2k² radiograph at most 16 at full size."""


@dataclass(frozen=True)
class Spacing:
    """Physical size of a pixel, where it came from, and its caveat."""

    row_mm: float
    col_mm: float
    source: str
    caveat: str | None = None


def spacing_of(image: LoadedImage) -> Spacing | None:
    """The image's pixel spacing in mm (None: uncalibrated, distances stay in pixels)."""
    if image.spacing_mm is None:
        return None
    caveat = next((n for n in image.notes if "ImagerPixelSpacing" in n), None)
    if not image.is_dicom:  # a NIfTI/NRRD volume's header, or a TIFF's resolution tags
        source = f"{image.source_format} header"
    else:
        source = "ImagerPixelSpacing" if caveat else "PixelSpacing"
    return Spacing(float(image.spacing_mm[0]), float(image.spacing_mm[1]), source, caveat)


def default_window(image: LoadedImage) -> Window:
    """The window the viewer opens with: the file's own, else the central percentiles.

    A VOI lookup table cannot be dragged; its file's linear window (or the percentiles)
    stands in for it, and the person can still choose any preset.
    """
    if image.header_window is not None:
        return image.header_window
    if image.pixels.ndim == 3:
        return full_range(image.pixels)
    return percentile_window(image.pixels)


@dataclass
class Plane:
    """One frame ready for tiling: values (H×W modality values or H×W×3 colour)."""

    values: NDArray[np.generic]
    window: Window
    invert: bool = False
    units: str | None = None
    modality: str | None = None
    spacing: Spacing | None = None
    frame: int = 0
    frames: int = 1
    _levels: dict[int, NDArray[np.generic]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def of(cls, image: LoadedImage) -> Plane:
        """A plane from a decoded frame."""
        values = image.pixels
        if values.ndim == 3:
            values = values[..., :3]
        return cls(
            values=values,
            window=default_window(image),
            invert=image.inverted,
            units=image.units,
            modality=image.modality,
            spacing=spacing_of(image),
            frame=image.frame_index,
            frames=image.frame_count,
        )

    @property
    def width(self) -> int:
        """Columns."""
        return int(self.values.shape[1])

    @property
    def height(self) -> int:
        """Rows."""
        return int(self.values.shape[0])

    @property
    def colour(self) -> bool:
        """An RGB picture: no window applies."""
        return self.values.ndim == 3

    @property
    def max_level(self) -> int:
        """The Deep Zoom level holding the full-resolution pixels."""
        return max(0, math.ceil(math.log2(max(self.width, self.height))))

    def level_size(self, level: int) -> tuple[int, int]:
        """(width, height) of a level; level max_level is full size, each lower one half."""
        scale = 2 ** (self.max_level - level)
        return max(1, math.ceil(self.width / scale)), max(1, math.ceil(self.height / scale))

    def level(self, level: int) -> NDArray[np.generic]:
        """The values at a level (area-averaged below full size), computed once."""
        if not 0 <= level <= self.max_level:
            raise ToolArgumentError(f"no level {level}: levels are 0..{self.max_level}")
        if level == self.max_level:
            return self.values
        with self._lock:
            cached = self._levels.get(level)
            if cached is None:
                src: NDArray[Any] = self.values
                if not self.colour and src.dtype != np.float32:
                    src = src.astype(np.float32)
                cached = cv2.resize(src, self.level_size(level), interpolation=cv2.INTER_AREA)
                self._levels[level] = cached
            return cached

    def dzi(self, fmt: str = "png") -> str:
        """The Deep Zoom descriptor (XML) OpenSeadragon opens."""
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Image xmlns="http://schemas.microsoft.com/deepzoom/2008" '
            f'Format="{fmt}" Overlap="0" TileSize="{TILE_SIZE}">'
            f'<Size Width="{self.width}" Height="{self.height}"/></Image>'
        )

    def tile_values(self, level: int, col: int, row: int) -> NDArray[np.generic]:
        """The values of one tile (ToolArgumentError for an address outside the level)."""
        width, height = self.level_size(level)
        x0, y0 = col * TILE_SIZE, row * TILE_SIZE
        if col < 0 or row < 0 or x0 >= width or y0 >= height:
            raise ToolArgumentError(f"no tile {col}_{row} at level {level}")
        return self.level(level)[y0 : y0 + TILE_SIZE, x0 : x0 + TILE_SIZE]

    def render(self, values: NDArray[np.generic], window: Window | None, invert: bool) -> Any:
        """8-bit display pixels of `values` with `window` (the plane's when None)."""
        if self.colour:
            rgb = values if values.dtype == np.uint8 else apply_window(values, self.window)
            return 255 - rgb if invert else rgb
        return apply_window(values, window or self.window, invert=invert)

    def tile(
        self, level: int, col: int, row: int, window: Window | None = None, invert: bool = False
    ) -> bytes:
        """PNG bytes of one tile in `window`; `invert` flips black and white."""
        shown = self.render(self.tile_values(level, col, row), window, invert)
        return encode_png(np.ascontiguousarray(shown), TILE_SIZE)

    def value_at(self, x: float, y: float) -> float | list[int]:
        """The stored value at image pixel (x, y): a modality value, or [r, g, b]."""
        col, row = math.floor(x), math.floor(y)
        if not (0 <= col < self.width and 0 <= row < self.height):
            raise ToolArgumentError(
                f"pixel ({col}, {row}) is outside the image ({self.width}×{self.height})"
            )
        value = self.values[row, col]
        if self.colour:
            return [int(v) for v in np.asarray(value)]
        return float(value)


def load_plane(att: Attachment, frame: int | None, deid_key: str) -> Plane:
    """Decode frame `frame` (0-based; None: the one shown first) of an attachment as a plane."""
    if att.kind.is_slide:
        raise InputError(f"{att.id} is a whole-slide image: it is shown in the slide viewer")
    return Plane.of(load_attachment(att, frame=frame, deid_key=deid_key))


class PlaneCache:
    """The few most recently viewed planes, by a key that changes when the file does."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, Plane] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, load: Callable[[], Plane]) -> Plane:
        """The cached plane for `key`, loading it (outside the lock) when absent."""
        with self._lock:
            plane = self._items.get(key)
            if plane is not None:
                self._items.move_to_end(key)
                return plane
        plane = load()
        with self._lock:
            self._items[key] = plane
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return plane

    def drop(self, match: Callable[[Hashable], bool]) -> None:
        """Forget planes whose key matches (e.g. a deleted session's)."""
        with self._lock:
            for key in [k for k in self._items if match(k)]:
                del self._items[key]
