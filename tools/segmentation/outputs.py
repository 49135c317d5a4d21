"""Files a segmentation produces: label mask PNG, COCO-style RLE JSON, overlay PNG."""

from __future__ import annotations

import colorsys
import json
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from tools.atomic import atomic_path, atomic_write_text
from tools.segmentation.measure import Structure
from tools.segmentation.preprocess import resize_labels, resize_to, to_rgb8
from tools.segmentation.types import Labels

OVERLAY_MAX_SIDE = 1024
ALPHA = 0.4


def save_mask_png(labels: Labels, path: Path) -> None:
    """Write the label image losslessly: 8-bit up to 255 labels, else 16-bit."""
    top = int(labels.max()) if labels.size else 0
    if top > 65535:
        raise ValueError(f"{top} labels do not fit a 16-bit PNG")
    dtype = np.uint8 if top <= 255 else np.uint16
    with atomic_path(path) as tmp:
        Image.fromarray(labels.astype(dtype)).save(tmp, format="PNG", compress_level=1)


def rle_encode(mask: NDArray[np.bool_]) -> list[int]:
    """COCO uncompressed RLE counts: column-major runs, starting with a background run."""
    flat = np.asarray(mask, bool).ravel(order="F")
    if flat.size == 0:
        return []
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], changes, [flat.size]])
    runs = np.diff(bounds).tolist()
    return [0, *runs] if flat[0] else runs


def rle_decode(counts: Sequence[int], shape: tuple[int, int]) -> NDArray[np.bool_]:
    """Inverse of `rle_encode`."""
    values = np.zeros(len(counts), bool)
    values[1::2] = True
    flat = np.repeat(values, counts)
    if flat.size != shape[0] * shape[1]:
        need = shape[0] * shape[1]
        raise ValueError(f"RLE covers {flat.size} pixels, shape {shape} needs {need}")
    return flat.reshape(shape, order="F")


def save_rle_json(labels: Labels, structures: Sequence[Structure], path: Path) -> None:
    """One COCO-style RLE per structure (``{"size": [h, w], "counts": [...]}``)."""
    h, w = labels.shape
    items = [
        {"label": s.label, "name": s.name, "size": [h, w], "counts": rle_encode(labels == s.label)}
        for s in structures
    ]
    doc = {"format": "coco-rle-uncompressed", "size": [h, w], "structures": items}
    atomic_write_text(path, json.dumps(doc))


def palette(n: int, instances: bool) -> NDArray[np.uint8]:
    """Distinct colours: golden-ratio hues for instances, fixed ones for classes."""
    fixed = [(0, 200, 255), (255, 80, 80), (80, 255, 80), (255, 200, 0), (200, 80, 255)]
    colours = []
    for i in range(n):
        if not instances and i < len(fixed):
            colours.append(fixed[i])
        else:
            r, g, b = colorsys.hsv_to_rgb((i * 0.618034) % 1.0, 0.85, 1.0)
            colours.append((int(r * 255), int(g * 255), int(b * 255)))
    return np.array(colours, np.uint8).reshape(-1, 3)


def render_overlay(
    pixels: NDArray[np.generic],
    labels: Labels,
    legend: Sequence[tuple[str, tuple[int, int, int]]],
    instances: bool,
) -> Image.Image:
    """Image with filled, outlined structures and a legend box, at most 1024 px wide/high."""
    rgb, _ = resize_to(to_rgb8(pixels), OVERLAY_MAX_SIDE)
    rgb = np.asarray(rgb, np.uint8)
    small = resize_labels(labels, (rgb.shape[0], rgb.shape[1]))
    n = int(small.max()) if small.size else 0
    colours = np.vstack([np.zeros((1, 3), np.uint8), palette(max(n, 1), instances)])
    fg = small > 0
    out = rgb.astype(np.float32)
    out[fg] = (1 - ALPHA) * out[fg] + ALPHA * colours[small[fg]]
    edges = cv2.morphologyEx(small.astype(np.float32), cv2.MORPH_GRADIENT, np.ones((3, 3))) > 0
    out[edges & fg] = colours[small[edges & fg]]
    image = Image.fromarray(out.round().astype(np.uint8))
    _draw_legend(image, legend)
    return image


ASCII = str.maketrans({"×": "x", "µ": "u", "²": "2"})
"""Fallback spelling when no font with these glyphs is installed (Pillow's default has none)."""


def legend_font(size: int) -> tuple[ImageFont.FreeTypeFont | ImageFont.ImageFont, bool]:
    """DejaVu Sans when installed (has µ, ², ×), else Pillow's default; True if Unicode-safe."""
    try:
        return ImageFont.truetype("DejaVuSans.ttf", size), True
    except OSError:
        return ImageFont.load_default(size=size), False


def _draw_legend(image: Image.Image, legend: Sequence[tuple[str, tuple[int, int, int]]]) -> None:
    draw = ImageDraw.Draw(image)
    font, unicode_ok = legend_font(max(11, image.width // 60))
    if not unicode_ok:
        legend = [(text.translate(ASCII), colour) for text, colour in legend]
    line = int(font.size) + 6 if isinstance(font, ImageFont.FreeTypeFont) else 16
    width = max(int(draw.textlength(text, font=font)) for text, _ in legend) + line + 12
    height = line * len(legend) + 8
    draw.rectangle((4, 4, 4 + width, 4 + height), fill=(0, 0, 0))
    for i, (text, colour) in enumerate(legend):
        y = 8 + i * line
        draw.rectangle((8, y + 2, 8 + line - 6, y + line - 4), fill=colour)
        draw.text((8 + line, y), text, fill=(255, 255, 255), font=font)


def mask_layer_png(labels: Labels, instances: bool, max_side: int = 2048) -> bytes:
    """A transparent PNG of the structures (translucent fill, opaque outline) for a viewer.

    Colours are those of `render_overlay`; the viewer sets the layer's opacity.
    """
    h, w = labels.shape
    scale = min(1.0, max_side / max(h, w))
    small = resize_labels(labels, (max(1, round(h * scale)), max(1, round(w * scale))))
    n = int(small.max()) if small.size else 0
    colours = np.vstack([np.zeros((1, 3), np.uint8), palette(max(n, 1), instances)])
    rgba = np.zeros((*small.shape, 4), np.uint8)
    fg = small > 0
    rgba[..., :3] = colours[small]
    rgba[..., 3] = np.where(fg, 110, 0)
    edges = cv2.morphologyEx(small.astype(np.float32), cv2.MORPH_GRADIENT, np.ones((3, 3))) > 0
    rgba[edges & fg, 3] = 255
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    if not ok:
        raise ValueError(f"PNG encoding failed for a layer of shape {rgba.shape}")
    return bytes(buf)
