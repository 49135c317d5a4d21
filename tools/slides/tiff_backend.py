"""Fallback reader for TIFFs OpenSlide refuses: OME-TIFF pyramids, stripped or odd tiled TIFFs.

Decodes only the tiles or strips a region touches. JPEG segments are decoded with Pillow
(tifffile needs the optional imagecodecs package for that); deflate, LZW-free, zstd and
uncompressed data use tifffile's own decoders. Only the first plane of each level is
read; other dtypes than uint8 are scaled for display using the smallest level's range.
"""

from __future__ import annotations

import io
import re
import threading
from pathlib import Path

import numpy as np
import tifffile
from numpy.typing import NDArray
from PIL import Image

from tools.errors import UnreadableImageError
from tools.slides.base import Slide

_JPEG = 7
_PLAUSIBLE_MPP = (0.05, 100.0)


def _mpp_from_tags(page: tifffile.TiffPage) -> float | None:
    unit = int(page.tags.valueof("ResolutionUnit", 1))
    xres = page.tags.valueof("XResolution")
    if xres is None or unit not in (2, 3):
        return None
    per_unit = xres[0] / xres[1] if isinstance(xres, tuple) else float(xres)
    if per_unit <= 0:
        return None
    mpp = (25400.0 if unit == 2 else 10000.0) / per_unit
    return mpp if _PLAUSIBLE_MPP[0] <= mpp <= _PLAUSIBLE_MPP[1] else None


def _ome_float(xml: str, attribute: str) -> float | None:
    match = re.search(rf'\b{attribute}="([0-9.eE+-]+)"', xml)
    return float(match.group(1)) if match else None


class TiffSlide(Slide):
    """A (pyramidal) TIFF read with tifffile; levels are the first series' levels."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._tif = tifffile.TiffFile(path)
        self._lock = threading.RLock()
        try:
            series = self._tif.series[0]
            self._pages: list[tifffile.TiffPage] = []
            for lvl in series.levels:
                page = lvl.pages[0]
                if not isinstance(page, tifffile.TiffPage):
                    raise UnreadableImageError(f"{path.name}: level without image data")
                self._pages.append(page)
            for page in self._pages:
                if page.planarconfig != 1 and page.samplesperpixel > 1:
                    raise UnreadableImageError(
                        f"{path.name}: planar (separate-plane) colour TIFFs are not supported"
                    )
            sizes = [(int(p.imagewidth), int(p.imagelength)) for p in self._pages]
            self.level_dimensions = tuple(sizes)
            w0, h0 = sizes[0]
            self.level_downsamples = tuple((w0 / w + h0 / h) / 2 for w, h in sizes)
            self.format = "tifffile:ome" if self._tif.is_ome else "tifffile:tiff"
            self._range: tuple[float, float] | None = None
            self._init_metadata()
            smallest = len(sizes) - 1
            if self._pages[smallest].dtype == np.uint8:  # probe one corner: fail at open time
                sw, sh = sizes[smallest]
                self._decode(smallest, 0, 0, min(sw, 16), min(sh, 16))
            else:
                self._range = self._display_range(self._decode(smallest, 0, 0, *sizes[smallest]))
        except UnreadableImageError:
            self._tif.close()
            raise
        except (ValueError, KeyError, NotImplementedError, IndexError, OSError) as exc:
            self._tif.close()
            raise UnreadableImageError(f"cannot read this TIFF ({exc})") from exc

    def _init_metadata(self) -> None:
        xml = self._tif.ome_metadata or ""
        mpp = _ome_float(xml, "PhysicalSizeX")
        unit = re.search(r'\bPhysicalSizeXUnit="([^"]+)"', xml)
        if mpp is not None and unit and unit.group(1) not in ("µm", "um"):
            mpp = {"nm": mpp / 1000.0, "mm": mpp * 1000.0}.get(unit.group(1))
        self.mpp = (mpp, mpp) if mpp else None
        if self.mpp is None and (tag_mpp := _mpp_from_tags(self._pages[0])):
            self.mpp = (tag_mpp, tag_mpp)
        self.objective_power = _ome_float(xml, "NominalMagnification")
        self.properties = {"tiff.compression": str(int(self._pages[0].compression))}

    def _segment(self, page: tifffile.TiffPage, index: int) -> NDArray[np.generic] | None:
        offset, count = page.dataoffsets[index], page.databytecounts[index]
        if count == 0:
            return None
        with self._lock:
            fh = self._tif.filehandle
            fh.seek(offset)
            data = fh.read(count)
        if int(page.compression) == _JPEG:
            tables = page.jpegtables
            if tables:
                data = bytes(tables[:-2]) + data[2:]  # splice shared tables into the stream
            with Image.open(io.BytesIO(data)) as img:
                return np.asarray(img.convert("RGB") if img.mode not in ("L", "RGB") else img)
        array, _, _ = page.decode(data, index, jpegtables=page.jpegtables)
        return None if array is None else np.asarray(array)[0]

    def _decode(self, level: int, x: int, y: int, w: int, h: int) -> NDArray[np.generic]:
        """Raw samples (h, w, s) of a rectangle inside `level`, in level coordinates."""
        page = self._pages[level]
        samples = int(page.samplesperpixel)
        out = np.zeros((h, w, samples), dtype=page.dtype)
        if page.is_tiled:
            tw, tl = int(page.tilewidth), int(page.tilelength)
            per_row = -(-int(page.imagewidth) // tw)
        else:
            tw, tl = int(page.imagewidth), int(page.rowsperstrip or page.imagelength)
            per_row = 1
        for row in range(y // tl, (y + h - 1) // tl + 1):
            for col in range(x // tw, (x + w - 1) // tw + 1):
                seg = self._segment(page, row * per_row + col)
                if seg is None:
                    continue
                seg = seg.reshape(seg.shape[0], seg.shape[1], -1)
                sx0, sy0 = max(x - col * tw, 0), max(y - row * tl, 0)
                sx1 = min(x + w - col * tw, seg.shape[1])
                sy1 = min(y + h - row * tl, seg.shape[0])
                ox, oy = col * tw + sx0 - x, row * tl + sy0 - y
                out[oy : oy + sy1 - sy0, ox : ox + sx1 - sx0] = seg[sy0:sy1, sx0:sx1, :samples]
        return out

    @staticmethod
    def _display_range(sample: NDArray[np.generic]) -> tuple[float, float]:
        lo, hi = np.percentile(sample.astype(np.float64), [0.5, 99.5])
        return (float(lo), float(hi) if hi > lo else float(lo) + 1.0)

    def _to_rgb(self, raw: NDArray[np.generic]) -> NDArray[np.uint8]:
        if self._range is not None:
            lo, hi = self._range
            scaled = (raw.astype(np.float32) - lo) * (255.0 / (hi - lo))
            raw = np.clip(scaled, 0, 255).astype(np.uint8)
        rgb = raw if raw.shape[2] >= 3 else np.repeat(raw[..., :1], 3, axis=2)
        return np.ascontiguousarray(rgb[..., :3], dtype=np.uint8)

    def _read(self, location: tuple[int, int], level: int, size: tuple[int, int]) -> Image.Image:
        ds = self.level_downsamples[level]
        lw, lh = self.level_dimensions[level]
        x = min(max(round(location[0] / ds), 0), lw - size[0])
        y = min(max(round(location[1] / ds), 0), lh - size[1])
        try:
            raw = self._decode(level, x, y, *size)
        except (ValueError, KeyError, NotImplementedError, tifffile.TiffFileError, OSError) as exc:
            raise UnreadableImageError(
                f"{self.path.name}: cannot decode the region at {location} (level {level}): {exc}"
            ) from exc
        return Image.fromarray(self._to_rgb(raw))

    def close(self) -> None:
        """Close the file."""
        self._tif.close()

    def __del__(self) -> None:
        # Caches drop slides without closing them (a reader may still hold one).
        tif = getattr(self, "_tif", None)
        if tif is not None:
            tif.close()
