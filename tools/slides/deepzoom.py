"""Deep Zoom tiles (DZI + JPEG) for any `Slide`, with bounded caches.

OpenSlide-backed slides hand their raw handle to OpenSlide's own `DeepZoomGenerator`;
other readers are adapted to the `AbstractSlide` interface it needs, so tiling is
identical everywhere. Encoded tiles are kept in a byte-bounded LRU cache.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

import openslide
from openslide.deepzoom import DeepZoomGenerator
from PIL import Image

from tools.slides.base import Slide
from tools.slides.opener import SLIDES, SlideCache
from tools.slides.openslide_backend import OpenSlideSlide


class _AbstractSlideView(openslide.AbstractSlide):
    """One of our slides seen through OpenSlide's interface (for DeepZoomGenerator)."""

    def __init__(self, slide: Slide) -> None:
        super().__init__()
        self._slide = slide

    @classmethod
    def detect_format(cls, filename: openslide.lowlevel.Filename) -> str | None:
        return None

    def close(self) -> None:
        """Nothing to do: the wrapped slide's owner closes it."""

    @property
    def level_count(self) -> int:
        return self._slide.level_count

    @property
    def level_dimensions(self) -> tuple[tuple[int, int], ...]:
        return self._slide.level_dimensions

    @property
    def level_downsamples(self) -> tuple[float, ...]:
        return self._slide.level_downsamples

    @property
    def properties(self) -> Mapping[str, str]:
        return {}

    @property
    def associated_images(self) -> Mapping[str, Image.Image]:
        return {}

    def get_best_level_for_downsample(self, downsample: float) -> int:
        return self._slide.best_level_for_downsample(downsample)

    def read_region(
        self, location: tuple[int, int], level: int, size: tuple[int, int]
    ) -> Image.Image:
        return self._slide.read_region(location, level, size).convert("RGBA")


def deepzoom_for(slide: Slide, tile_size: int = 254, overlap: int = 1) -> DeepZoomGenerator:
    """Return a DeepZoomGenerator over `slide` (limit_bounds honours scanner bounds)."""
    osr = slide.osr if isinstance(slide, OpenSlideSlide) else _AbstractSlideView(slide)
    return DeepZoomGenerator(osr, tile_size=tile_size, overlap=overlap, limit_bounds=True)


class TileServer:
    """DZI descriptors and JPEG tiles for slide files, cached in memory."""

    def __init__(
        self,
        slides: SlideCache = SLIDES,
        tile_size: int = 254,
        overlap: int = 1,
        quality: int = 80,
        cache_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.slides, self.tile_size, self.overlap = slides, tile_size, overlap
        self.quality = quality
        self.cache_bytes = cache_bytes
        self._generators: dict[int, tuple[Slide, DeepZoomGenerator]] = {}
        self._tiles: OrderedDict[tuple[str, int, int, int], bytes] = OrderedDict()
        self._held = 0
        self._lock = threading.Lock()

    def _generator(self, path: Path) -> tuple[Slide, DeepZoomGenerator]:
        slide = self.slides.get(path)
        with self._lock:
            entry = self._generators.get(id(slide))
            if entry is None or entry[0] is not slide:
                entry = (slide, deepzoom_for(slide, self.tile_size, self.overlap))
                self._generators = {k: v for k, v in self._generators.items() if not v[0].broken}
                self._generators[id(slide)] = entry
        return entry

    def _render(self, path: Path, level: int, col: int, row: int) -> Image.Image:
        slide, generator = self._generator(path)
        if isinstance(slide, OpenSlideSlide):
            return generator.get_tile(level, (col, row))  # OpenSlide's own path, unchanged
        # Our readers shrink while reading (in bands for huge areas): coarse tiles of a
        # one-level slide never hold the whole level in memory, unlike get_tile would.
        location, slide_level, size = generator.get_tile_coordinates(level, (col, row))
        out = generator.get_tile_dimensions(level, (col, row))
        return slide.read_scaled(location, slide_level, size, out)

    def dzi(self, path: Path) -> str:
        """Return the DZI XML for the slide at `path`."""
        return self._generator(path)[1].get_dzi("jpeg")

    def cached_tile(self, path: Path, level: int, col: int, row: int) -> bytes | None:
        """Return a tile from the cache, or None (cheap: safe to call on the event loop)."""
        key = (str(path), level, col, row)
        with self._lock:
            data = self._tiles.get(key)
            if data is not None:
                self._tiles.move_to_end(key)
            return data

    def tile(self, path: Path, level: int, col: int, row: int) -> bytes:
        """Return the JPEG bytes of one tile; ValueError for an address outside the pyramid."""
        cached = self.cached_tile(path, level, col, row)
        if cached is not None:
            return cached
        image = self._render(path, level, col, row)
        buf = io.BytesIO()
        image.save(buf, format="JPEG", quality=self.quality)
        data = buf.getvalue()
        with self._lock:
            self._tiles[(str(path), level, col, row)] = data
            self._held += len(data)
            while self._held > self.cache_bytes and self._tiles:
                _, old = self._tiles.popitem(last=False)
                self._held -= len(old)
        return data
