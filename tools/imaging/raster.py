"""Ordinary raster images: PNG, JPEG and BMP through Pillow, TIFF through tifffile.

tifffile reads what Pillow cannot (16-bit RGB, float, planar, BigTIFF). Sizes are checked
from the header before any pixel is decoded, so a decompression bomb is refused cheaply.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

from tools.errors import InputError, UnreadableImageError
from tools.imaging.deid import label
from tools.imaging.image import LoadedImage, check_frame
from tools.imaging.limits import call_with_timeout

RASTER_MAGIC: dict[bytes, str] = {
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
    b"II+\x00": "TIFF",
    b"MM\x00+": "TIFF",
    b"BM": "BMP",
    b"GIF87a": "GIF",
    b"GIF89a": "GIF",
}
"""Leading bytes of the raster formats we accept, and their names."""

_PIL_FORMATS = {"PNG", "JPEG", "MPO", "BMP", "GIF", "TIFF"}
_READ_ERRORS = (
    UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, KeyError, IndexError,
)  # fmt: skip


def raster_format(head: bytes) -> str | None:
    """Return 'PNG', 'JPEG', 'TIFF', 'BMP' or 'GIF' for a file starting with `head`, else None.

    A DICOM file may start with a TIFF header in its preamble (dual-personality files):
    the 'DICM' magic at byte 128 wins.
    """
    if head[128:132] == b"DICM":
        return None
    return next((fmt for magic, fmt in RASTER_MAGIC.items() if head.startswith(magic)), None)


def _mode_of(arr: NDArray[Any]) -> str:
    if arr.ndim == 3:
        return "RGBA" if arr.shape[2] == 4 else "RGB"
    return {"uint8": "L", "uint16": "I;16", "bool": "1"}.get(str(arr.dtype), str(arr.dtype))


def _too_big(name: str, width: int, height: int, max_pixels: int) -> InputError:
    return InputError(
        f"{name}: {width}×{height} = {width * height:,} pixels exceeds the limit of "
        f"{max_pixels:,} for whole-image decoding (use the slide tools for gigapixel slides)"
    )


def _needs_imagecodecs(exc: Exception) -> bool:
    return "imagecodecs" in str(exc)


def _load_tiff(path: Path, frame: int, max_pixels: int) -> tuple[NDArray[Any], int]:
    """Read a TIFF page with tifffile; compressions it needs imagecodecs for go to Pillow."""
    try:
        return _load_tifffile(path, frame, max_pixels)
    except ValueError as exc:
        if not _needs_imagecodecs(exc):
            raise
    arr, count, _ = _load_pil(path, frame, max_pixels)  # LZW, JPEG, ... through libtiff
    return arr, count


def _load_tifffile(path: Path, frame: int, max_pixels: int) -> tuple[NDArray[Any], int]:
    with tifffile.TiffFile(path) as tif:
        count = len(tif.pages)
        if count == 0:
            raise UnreadableImageError(f"{label(path)}: the TIFF file has no readable page")
        check_frame(frame, count, label(path))
        page = tif.pages[frame]
        height = int(getattr(page, "imagelength", 0) or page.shape[0])
        width = int(getattr(page, "imagewidth", 0) or page.shape[1])
        if height * width > max_pixels:
            raise _too_big(label(path), width, height, max_pixels)
        arr = np.asarray(page.asarray())
    if arr.ndim == 3 and arr.shape[0] in (3, 4) and arr.shape[2] not in (3, 4):
        arr = np.moveaxis(arr, 0, -1)  # planar configuration → interleaved
    if arr.ndim == 3 and arr.shape[2] == 2:
        arr = arr[..., 0]  # gray + alpha
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    return arr, count


def _load_pil(path: Path, frame: int, max_pixels: int) -> tuple[NDArray[Any], int, str]:
    with Image.open(path) as img:
        if img.format not in _PIL_FORMATS:
            raise UnreadableImageError(f"{label(path)}: {img.format} images are not supported")
        fmt = "JPEG" if img.format == "MPO" else img.format
        count = int(getattr(img, "n_frames", 1))
        check_frame(frame, count, label(path))
        if img.width * img.height > max_pixels:
            raise _too_big(label(path), img.width, img.height, max_pixels)
        img.seek(frame)
        img.load()
        out = ImageOps.exif_transpose(img) if fmt == "JPEG" else img
        if out.mode in ("1", "LA"):
            out = out.convert("L")
        elif out.mode in ("P", "PA", "CMYK", "YCbCr", "LAB", "HSV"):
            out = out.convert("RGBA" if "transparency" in out.info or out.mode == "PA" else "RGB")
        return np.asarray(out), count, fmt


def load_raster(path: Path, frame: int, timeout_s: float, max_pixels: int) -> LoadedImage:
    """Decode one frame (page) of a PNG, JPEG, TIFF or BMP file."""
    with path.open("rb") as fh:
        fmt = raster_format(fh.read(16))
    try:
        if fmt == "TIFF":
            arr, count = call_with_timeout(lambda: _load_tiff(path, frame, max_pixels),
                                           timeout_s, label(path))  # fmt: skip
        else:
            arr, count, fmt = call_with_timeout(lambda: _load_pil(path, frame, max_pixels),
                                                timeout_s, label(path))  # fmt: skip
    except (tifffile.TiffFileError, *_READ_ERRORS) as exc:
        text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise UnreadableImageError(f"{label(path)}: not a readable {fmt} image ({text})") from exc
    if arr.ndim not in (2, 3) or arr.size == 0:
        raise UnreadableImageError(f"{label(path)}: unsupported {fmt} layout {arr.shape}")
    return LoadedImage(
        pixels=arr,
        source_format=fmt or "image",
        mode=_mode_of(arr),
        frame_index=frame,
        frame_count=count,
    )
