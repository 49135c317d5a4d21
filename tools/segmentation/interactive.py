"""Interactive segmentation of anything from point or box prompts, without weights.

- Points only: marker watershed on the gradient magnitude inside a window around the
  points; the window's rim (and any background points) are background markers, so the
  region stops at the strongest edge between them.
- A box (optionally with points): GrabCut (colour GMMs + graph cut) initialised with the
  box; foreground points are forced in, background points forced out.

Good for: a well-contrasted object (a nodule, a cell, an organ outline on a clean
image). Fails on: low-contrast or textured boundaries (leaks along weak edges),
objects larger than the window around a point (give a box instead), thin structures.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from assistant.errors import ToolArgumentError
from tools.segmentation._skimage import filters, segmentation
from tools.segmentation.preprocess import resize_to, to_gray, to_rgb8
from tools.segmentation.types import Labels, Prompts, SegInput, Segmentation, Target

WINDOW_FRACTION = 0.25
"""Half-size of the window around point prompts, as a share of the longer image side."""
MIN_WINDOW = 24
GRABCUT_SIDE = 384
"""GrabCut runs on a copy whose longer side is at most this (keeps a prompt under 1 s)."""
GRABCUT_ITERATIONS = 4


def check_prompts(prompts: Prompts, shape: tuple[int, int]) -> None:
    """Raise ToolArgumentError for points outside the image or an empty/outside box."""
    h, w = shape
    for kind, pts in (("point", prompts.points), ("background point", prompts.background_points)):
        for x, y in pts:
            if not (0 <= x < w and 0 <= y < h):
                raise ToolArgumentError(
                    f"{kind} [{x}, {y}] is outside the image: x must be in 0..{w - 1} and y in "
                    f"0..{h - 1} (x is the column, y the row, in pixels)."
                )
    if prompts.box is not None:
        x0, y0, x1, y1 = prompts.box
        if x1 <= x0 or y1 <= y0:
            raise ToolArgumentError(
                f"box [{x0}, {y0}, {x1}, {y1}] is empty: it must be [x0, y0, x1, y1] with "
                f"x1 > x0 and y1 > y0 (pixels, x1/y1 exclusive)."
            )
        if x1 <= 0 or y1 <= 0 or x0 >= w or y0 >= h:
            raise ToolArgumentError(
                f"box [{x0}, {y0}, {x1}, {y1}] lies outside the {w}×{h} image "
                f"(x in 0..{w}, y in 0..{h})."
            )


def clip_box(box: tuple[int, int, int, int], shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """Clip the box to the image."""
    h, w = shape
    x0, y0, x1, y1 = box
    return max(0, x0), max(0, y0), min(w, x1), min(h, y1)


def points_watershed(gray: np.ndarray, prompts: Prompts) -> np.ndarray:
    """Binary region grown from foreground points up to the strongest surrounding edge."""
    h, w = gray.shape
    pts = np.array(prompts.points)
    half = max(MIN_WINDOW, round(WINDOW_FRACTION * max(h, w)))
    x0, y0 = max(0, int(pts[:, 0].min()) - half), max(0, int(pts[:, 1].min()) - half)
    x1, y1 = min(w, int(pts[:, 0].max()) + half + 1), min(h, int(pts[:, 1].max()) + half + 1)
    crop = filters.gaussian(gray[y0:y1, x0:x1], 1.0)
    markers = np.zeros(crop.shape, np.int32)
    markers[[0, -1], :] = 2
    markers[:, [0, -1]] = 2
    for x, y in prompts.background_points:
        if x0 <= x < x1 and y0 <= y < y1:
            cv2.circle(markers, (x - x0, y - y0), 2, 2, -1)
    for x, y in prompts.points:
        cv2.circle(markers, (x - x0, y - y0), 2, 1, -1)
    region = segmentation.watershed(filters.sobel(crop), markers) == 1
    out = np.zeros((h, w), bool)
    out[y0:y1, x0:x1] = region
    return out


def box_grabcut(rgb: np.ndarray, prompts: Prompts) -> np.ndarray:
    """Binary object inside the box by GrabCut, on a downscaled copy when large."""
    assert prompts.box is not None
    h, w = rgb.shape[:2]
    small, scale = resize_to(rgb, GRABCUT_SIDE)
    sh, sw = small.shape[:2]
    x0, y0, x1, y1 = (round(v * scale) for v in clip_box(prompts.box, (h, w)))
    x1, y1 = min(sw, max(x1, x0 + 2)), min(sh, max(y1, y0 + 2))
    mask = np.full((sh, sw), cv2.GC_BGD, np.uint8)
    mask[y0:y1, x0:x1] = cv2.GC_PR_FGD
    for pts, value in ((prompts.points, cv2.GC_FGD), (prompts.background_points, cv2.GC_BGD)):
        for x, y in pts:
            cv2.circle(mask, (round(x * scale), round(y * scale)), 2, int(value), -1)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    grabcut: Any = cv2.grabCut  # its stubs reject rect=None, which GC_INIT_WITH_MASK needs
    grabcut(
        np.ascontiguousarray(small), mask, None, bgd, fgd, GRABCUT_ITERATIONS, cv2.GC_INIT_WITH_MASK
    )
    fg = ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.uint8)
    return np.asarray(cv2.resize(fg, (w, h), interpolation=cv2.INTER_NEAREST), bool)


def largest_with_points(mask: np.ndarray, prompts: Prompts) -> Labels:
    """Keep the components touching a foreground point, else the largest one."""
    n, comp = cv2.connectedComponents(mask.astype(np.uint8))
    if n <= 2:
        return comp.astype(np.int32)
    hit = {int(comp[y, x]) for x, y in prompts.points if comp[y, x] > 0}
    if not hit:
        hit = {int(np.argmax(np.bincount(comp.ravel())[1:]) + 1)}
    return np.isin(comp, list(hit)).astype(np.int32)


class InteractiveSegmenter:
    """Weight-free segmentation of whatever the point or box prompt designates."""

    name = "classical"
    targets = frozenset({Target.PROMPTED})

    def segment(self, image: SegInput, target: Target, prompts: Prompts) -> Segmentation:
        """Label the prompted object 1."""
        if not prompts.points and prompts.box is None:
            raise ToolArgumentError(
                "target 'prompted' needs a prompt: give points [[x, y], ...] on the object "
                "or a box [x0, y0, x1, y1] around it (pixels)."
            )
        shape = (int(image.pixels.shape[0]), int(image.pixels.shape[1]))
        check_prompts(prompts, shape)
        if prompts.box is not None:
            mask = box_grabcut(to_rgb8(image.pixels), prompts)
            method = "GrabCut from the box"
        else:
            mask = points_watershed(to_gray(image.pixels), prompts)
            method = "marker watershed on gradient from the points"
        labels = largest_with_points(mask, prompts)
        notes = [] if labels.any() else ["nothing found at the prompt: try a tighter box"]
        return Segmentation(labels, {1: "selected object"}, method, notes=notes)
