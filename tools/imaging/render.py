"""Render a stored image as a bounded-size 8-bit PNG for the model, the chat and the UI.

Grayscale DICOM goes through a window (the file's own VOI LUT or window by default, a
named preset, or an explicit center/width), and so does a NIfTI or NRRD slice (by
default its volume's window, the same on every slice); MONOCHROME1 is inverted so that
it looks like every other radiograph. For CT the model profile may ask for MedGemma's three-window
RGB encoding instead. Only pixels leave here: no header value is drawn or embedded.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from tools.imaging.image import LoadedImage
from tools.imaging.reader import load_image
from tools.imaging.windowing import (
    Window,
    WindowPreset,
    apply_window,
    ct_rgb,
    full_range,
    preset_window,
)

RENDER_CACHE_SIZE = 64
"""Rendered PNGs kept in memory (each at most a few MB at model size)."""

_PNG_PARAMS = [
    cv2.IMWRITE_PNG_COMPRESSION, 1,
    cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE,
    cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP,
]  # fmt: skip
"""Fast deflate settings, chosen on the sample radiographs, CTs and MRs (BENCHMARKS.md)."""


def display_array(
    image: LoadedImage, window: WindowPreset | Window = "auto", ct_windows_rgb: bool = False
) -> tuple[NDArray[np.uint8], str | None]:
    """Return 8-bit grayscale or RGB pixels for display and a description of the window."""
    px = image.pixels
    if px.ndim == 3:
        rgb = px[..., :3]
        if rgb.dtype == np.uint8:
            return rgb.astype(np.uint8, copy=False), None
        return apply_window(rgb, full_range(rgb)), "full range"
    auto = isinstance(window, str) and window == "auto"
    if auto and not image.is_dicom and image.header_window is None:  # a picture: as stored
        if px.dtype == np.uint8:
            return px.astype(np.uint8, copy=False), None
        return apply_window(px, full_range(px)), "full range"
    if isinstance(window, Window):
        chosen = window
    elif window == "auto" and ct_windows_rgb and image.modality == "CT":
        return ct_rgb(px), "CT 3-window RGB (R: -1024..1024, G: 135..215, B: 0..80 HU)"
    elif window == "auto" and image.voi_lut is not None:
        out = image.voi_lut.apply(px)
        return (255 - out if image.inverted else out), image.voi_lut.describe()
    else:
        chosen = preset_window(window, px, image.header_window)
    return apply_window(px, chosen, invert=image.inverted), chosen.describe()


def encode_png(pixels: NDArray[np.uint8], max_side: int) -> bytes:
    """PNG bytes of 8-bit pixels, shrunk (area averaging) so the longer side is ≤ `max_side`.

    OpenCV's encoder with one fixed row filter (Up) and run-length-only deflate: on the
    sample images that is 2× faster than Huffman-only with adaptive filters, for sizes
    within a few percent (smaller on CT, whose air background is long runs).
    """
    out: NDArray[np.integer[Any] | np.floating[Any]] = pixels
    height, width = pixels.shape[:2]
    scale = max_side / max(height, width)
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        out = cv2.resize(out, size, interpolation=cv2.INTER_AREA)
    if out.ndim == 3:
        out = cv2.cvtColor(out, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(out), _PNG_PARAMS)
    if not ok:
        raise ValueError(f"PNG encoding failed for an array of shape {out.shape}")
    return bytes(buf)


def render_png(
    path: Path,
    max_side: int,
    *,
    window: WindowPreset | Window = "auto",
    frame: int = 0,
    ct_windows_rgb: bool = False,
) -> bytes:
    """PNG bytes of the image at `path`, its longer side at most `max_side` pixels.

    Results are cached by file identity (path, size, modification time) and arguments:
    the agent sends the same attachment to the model on every turn.
    """
    stat = path.stat()
    return _render_cached(
        str(path.resolve()), stat.st_size, stat.st_mtime_ns, max_side, window, frame, ct_windows_rgb
    )


@lru_cache(maxsize=RENDER_CACHE_SIZE)
def _render_cached(
    path: str,
    size: int,
    mtime_ns: int,
    max_side: int,
    window: WindowPreset | Window,
    frame: int,
    ct_windows_rgb: bool,
) -> bytes:
    del size, mtime_ns  # part of the cache key only
    image = load_image(Path(path), frame=frame, with_metadata=False)
    pixels, _ = display_array(image, window, ct_windows_rgb)
    return encode_png(pixels, max_side)


def render_view(
    path: Path,
    *,
    window: WindowPreset | Window = "auto",
    frame: int = 0,
    max_side: int = 1024,
) -> tuple[bytes, str]:
    """PNG bytes and a caption ('frame 1 of 3, lung (C=-600, W=1500)') for the UI viewer."""
    image = load_image(path, frame=frame, with_metadata=False)
    pixels, used = display_array(image, window)
    caption = f"frame {frame + 1} of {image.frame_count}, {used or 'as stored'}"
    notes = [n for n in image.notes if "burned into the pixels" in n]
    return encode_png(pixels, max_side), "; ".join([caption, *notes])
