"""Render a stored image as a bounded-size PNG for the model and the chat."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from tools.imaging.loader import LoadedImage, load_image


def to_display_array(image: LoadedImage) -> np.ndarray:
    """8-bit grayscale or RGB pixels, intensity-scaled for display."""
    px = image.pixels
    if px.ndim == 3 and px.shape[2] == 4:
        px = px[..., :3]
    if px.dtype == np.uint8:
        return px
    arr = px.astype(np.float64)
    lo, hi = float(np.min(arr)), float(np.max(arr))
    scaled = (arr - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(arr)
    return scaled.round().astype(np.uint8)


def render_png(path: Path, max_side: int) -> bytes:
    """PNG bytes of the image at `path`, its longer side at most `max_side` pixels."""
    img = Image.fromarray(to_display_array(load_image(path)))
    img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()
