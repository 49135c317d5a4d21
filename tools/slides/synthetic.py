"""Synthetic pyramidal TIFFs with known content, for tests and benchmarks.

Writes the layouts our readers meet: a generic tiled pyramid (OpenSlide
"generic-tiff"), an Aperio-like SVS (objective power and mpp in the description),
an OME-TIFF with its pyramid in SubIFDs (tifffile fallback), and a flat stripped TIFF.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import tifffile
from numpy.typing import NDArray
from PIL import Image

Layout = Literal["generic", "aperio", "ome", "stripped"]
Compression = Literal["zlib", "jpeg", "none"]


def _pil_jpeg(data: NDArray[np.uint8], level: int | None = None, **_: Any) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(data).squeeze()).save(
        buf, format="JPEG", quality=level or 85
    )
    return buf.getvalue()


def _enable_jpeg_writing() -> None:
    """Let tifffile write JPEG tiles with Pillow when the imagecodecs package is absent."""
    codecs = cast(Any, tifffile.TIFF.COMPRESSORS)._codecs  # private: no public hook exists
    codecs.setdefault(7, _pil_jpeg)


def pyramid(base: NDArray[np.uint8], levels: int, factor: int = 2) -> list[NDArray[np.uint8]]:
    """Return `base` and `levels - 1` box-filtered reductions by `factor`."""
    images = [Image.fromarray(base)]
    for _ in range(levels - 1):
        images.append(images[-1].reduce(factor))
    return [np.asarray(im) for im in images]


def write_slide(
    path: Path,
    base: NDArray[np.uint8],
    *,
    layout: Layout = "generic",
    levels: int = 3,
    tile: int = 64,
    compression: Compression = "zlib",
    mpp: float | None = 0.5,
    power: float = 20.0,
) -> Path:
    """Write `base` (H×W×3 uint8) as a slide file; return `path`."""
    comp: str | None = None if compression == "none" else compression
    if comp == "jpeg":
        _enable_jpeg_writing()
    images = pyramid(base, levels if layout != "stripped" else 1)
    height, width = base.shape[:2]
    res: dict[str, Any] = {}
    if mpp:
        res = {"resolution": (1e4 / mpp, 1e4 / mpp), "resolutionunit": "CENTIMETER"}
    common: dict[str, Any] = {"photometric": "rgb", "compression": comp}
    with tifffile.TiffWriter(path, bigtiff=width * height > 2**28, ome=layout == "ome") as tw:
        if layout == "stripped":
            tw.write(base, rowsperstrip=64, **common, **res)
        elif layout == "ome":
            meta = {"axes": "YXS"} | ({"PhysicalSizeX": mpp, "PhysicalSizeY": mpp} if mpp else {})
            tw.write(images[0], tile=(tile, tile), subifds=levels - 1, metadata=meta, **common)
            for img in images[1:]:
                tw.write(img, tile=(tile, tile), subfiletype=1, **common)
        else:
            description = ""
            if layout == "aperio":
                description = (
                    f"Aperio Image Library synthetic\r\n{width}x{height} [0,0 {width}x{height}] "
                    f"({tile}x{tile}) RGB|AppMag = {power:g}" + (f"|MPP = {mpp}" if mpp else "")
                )
            for i, img in enumerate(images):
                tw.write(
                    img, tile=(tile, tile), subfiletype=0 if i == 0 else 1,
                    description=description if i == 0 else None, metadata=None, **common, **res,
                )
    return path


def tiled_jpeg_slide(
    path: Path,
    tile_image: NDArray[np.uint8],
    repeat: tuple[int, int],
    levels: int,
    tile: int = 256,
    mpp: float = 0.25,
) -> Path:
    """Write a large JPEG-tiled generic pyramid by repeating `tile_image`, fast.

    Level k repeats ``tile_image`` reduced by 2**k; each distinct tile is JPEG-encoded
    once and written pre-compressed, so a 50k×50k pyramid takes seconds, not minutes.
    """
    _enable_jpeg_writing()
    th, tw_ = tile_image.shape[:2]
    with tifffile.TiffWriter(path, bigtiff=True) as tw:
        for k, small in enumerate(pyramid(tile_image, levels)):
            shape = (th * repeat[1] // 2**k, tw_ * repeat[0] // 2**k, 3)
            sh, sw = small.shape[:2]
            mosaic = np.tile(small, (-(-tile // sh) + 1, -(-tile // sw) + 1, 1))
            encoded: dict[tuple[int, int], bytes] = {}

            def tiles(
                shape: tuple[int, int, int] = shape,
                sh: int = sh,
                sw: int = sw,
                mosaic: NDArray[np.uint8] = mosaic,
                encoded: dict[tuple[int, int], bytes] = encoded,
            ) -> Iterator[bytes]:
                for y in range(0, shape[0], tile):
                    for x in range(0, shape[1], tile):
                        key = (y % sh, x % sw)
                        if key not in encoded:
                            block = mosaic[key[0] : key[0] + tile, key[1] : key[1] + tile]
                            encoded[key] = _pil_jpeg(block, 80)
                        yield encoded[key]

            scale = 1e4 / (mpp * 2**k)
            tw.write(
                tiles(), shape=shape, dtype=np.uint8, tile=(tile, tile), photometric="rgb",
                compression="jpeg", subfiletype=0 if k == 0 else 1,
                resolution=(scale, scale), resolutionunit="CENTIMETER",
            )
    return path
