"""Pixel conversions shared by the backends: float grayscale, 8-bit RGB, resizing."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from tools.errors import InputError

Float = NDArray[np.float32]


def drop_alpha(pixels: NDArray[np.generic]) -> NDArray[np.generic]:
    """Return H×W grayscale or H×W×3 colour: alpha dropped, single channels squeezed."""
    if pixels.ndim == 2:
        return pixels
    if pixels.ndim != 3 or pixels.shape[2] not in (1, 2, 3, 4):
        raise InputError(
            f"expected a 2-D gray or RGB(A) image, got an array of shape {pixels.shape}"
        )
    channels = pixels.shape[2]
    if channels in (1, 2):  # gray, gray + alpha
        return pixels[..., 0]
    return pixels[..., :3]


def to_float(pixels: NDArray[np.generic]) -> Float:
    """Intensities scaled to [0, 1] by the 0.5th and 99.5th percentiles (any dtype)."""
    px = drop_alpha(pixels).astype(np.float32)
    step = max(1, int(np.sqrt(px.shape[0] * px.shape[1] / 1_000_000)))  # ~1 Mpx sample
    lo, hi = np.percentile(px[::step, ::step], [0.5, 99.5])
    if hi <= lo:
        return np.zeros(px.shape, np.float32)
    return np.asarray(np.clip((px - lo) / (hi - lo), 0.0, 1.0), np.float32)


def to_gray(pixels: NDArray[np.generic]) -> Float:
    """Grayscale in [0, 1] (luminance for colour images)."""
    px = to_float(pixels)
    if px.ndim == 3:  # to_float dropped alpha: RGB
        return np.asarray(0.299 * px[..., 0] + 0.587 * px[..., 1] + 0.114 * px[..., 2], np.float32)
    return px


def to_rgb8(pixels: NDArray[np.generic]) -> NDArray[np.uint8]:
    """8-bit RGB for display; 8-bit inputs keep their values, others are rescaled."""
    px = drop_alpha(pixels)
    if px.dtype != np.uint8:
        px = (to_float(px) * 255).round().astype(np.uint8)
    if px.ndim == 2:
        px = np.stack([px] * 3, axis=-1)
    return np.ascontiguousarray(px.astype(np.uint8))


def resize_to(image: NDArray[np.generic], max_side: int) -> tuple[NDArray[np.generic], float]:
    """Shrink so the longer side is at most `max_side`; return the image and the scale."""
    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale >= 1.0:
        return image, 1.0
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    cv2_types = (np.uint8, np.uint16, np.int16, np.float32, np.float64)
    src: Any = image if image.dtype in cv2_types else image.astype(np.float32)
    return cv2.resize(src, size, interpolation=cv2.INTER_AREA), scale


def resize_labels(labels: NDArray[np.int32], shape: tuple[int, int]) -> NDArray[np.int32]:
    """Nearest-neighbour resize of a label image to (rows, cols)."""
    if labels.shape == shape:
        return labels
    out = cv2.resize(labels, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return out.astype(np.int32)
