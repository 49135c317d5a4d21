"""Interactive segmentation of anything from point or box prompts, without weights.

- A box: Otsu split of the (smoothed) box contents; the object is the class that fills
  the box centre more than its rim; its largest component, holes filled. With points
  inside the box, the class and component under the first point are taken instead.
- Points only: the same split in a window around the first point, doubling the window
  (from 32 px) until the region no longer touches the window edge, so small and large
  objects both get a window that encloses them.
- Background points: marker watershed on the gradient magnitude, foreground points vs
  background points and the window rim, so the cut follows the strongest edge between.

Good for: an object that is darker or brighter than its surroundings (a nucleus, a
nodule, a lesion on a clean background), given a box that hugs it. Fails on: objects as
textured as their background, low contrast, large objects from a single point (give a
box), objects touching a similar neighbour (they merge; add a background point). GrabCut
was tried first and rejected: on grayscale and fluorescence images it often labelled the
whole box background (see BENCHMARKS.md).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from assistant.errors import ToolArgumentError
from tools.segmentation._skimage import filters, segmentation
from tools.segmentation.preprocess import to_gray
from tools.segmentation.types import Labels, Prompts, SegInput, Segmentation, Target

START_HALF_WINDOW = 16
MAX_WINDOW_FRACTION = 0.5
"""Largest half-window around a point, as a share of the longer image side."""

Box = tuple[int, int, int, int]
Point = tuple[int, int]


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


def clip_box(box: Box, shape: tuple[int, int]) -> Box:
    """Clip the box to the image."""
    h, w = shape
    x0, y0, x1, y1 = box
    return max(0, x0), max(0, y0), min(w, x1), min(h, y1)


def region_in(crop: np.ndarray, seed: Point | None = None) -> np.ndarray | None:
    """Object in a crop by an Otsu split: the seed's class and component, or the central one."""
    smooth = filters.gaussian(crop, 1.0)
    if np.ptp(smooth) < 1e-6:
        return None
    otsu = filters.threshold_otsu(smooth)
    # Midpoint of the two class means: Otsu alone sits off-centre when one class is small.
    bright = smooth > (smooth[smooth > otsu].mean() + smooth[smooth <= otsu].mean()) / 2
    h, w = bright.shape
    if seed is not None:
        obj = bright if bright[seed[1], seed[0]] else ~bright
    else:
        inner = np.zeros_like(bright)
        inner[h // 4 : h - h // 4 + 1, w // 4 : w - w // 4 + 1] = True
        rim = ~ndi.binary_erosion(np.ones_like(bright), iterations=max(1, min(h, w) // 10))
        obj = bright if bright[inner].mean() >= bright[rim].mean() else ~bright
    # Pick the component on an opened copy (cuts one-pixel bridges), return it unopened.
    lab, n = ndi.label(ndi.binary_opening(obj))
    if n == 0:
        return None
    if seed is not None:
        # The seed's component, or the nearest one when opening removed the seed pixel.
        _, (iy, ix) = ndi.distance_transform_edt(lab == 0, return_indices=True)
        label = int(lab[iy[seed[1], seed[0]], ix[seed[1], seed[0]]])
    else:
        sizes = np.bincount(lab.ravel())
        sizes[0] = 0
        label = int(np.argmax(sizes))
    whole, _ = ndi.label(obj)
    picked = np.unique(whole[lab == label])
    return np.asarray(ndi.binary_fill_holes(np.isin(whole, picked[picked > 0])), bool)


def _paste(part: np.ndarray | None, shape: tuple[int, int], x0: int, y0: int) -> np.ndarray:
    out = np.zeros(shape, bool)
    if part is not None:
        out[y0 : y0 + part.shape[0], x0 : x0 + part.shape[1]] = part
    return out


def from_box(gray: np.ndarray, box: Box, seed: Point | None) -> np.ndarray:
    """Object inside a box (optionally with a point on it)."""
    x0, y0, x1, y1 = clip_box(box, gray.shape)
    local = (
        (seed[0] - x0, seed[1] - y0) if seed and x0 <= seed[0] < x1 and y0 <= seed[1] < y1 else None
    )
    return _paste(region_in(gray[y0:y1, x0:x1], local), gray.shape, x0, y0)


def from_point(gray: np.ndarray, point: Point) -> np.ndarray:
    """Object at a point, in the smallest doubling window that encloses it."""
    h, w = gray.shape
    x, y = point
    half = START_HALF_WINDOW
    while True:
        x0, y0, x1, y1 = (
            max(0, x - half),
            max(0, y - half),
            min(w, x + half + 1),
            min(h, y + half + 1),
        )
        part = region_in(gray[y0:y1, x0:x1], (x - x0, y - y0))
        cut = part is not None and (
            (y0 > 0 and part[0].any())
            or (y1 < h and part[-1].any())
            or (x0 > 0 and part[:, 0].any())
            or (x1 < w and part[:, -1].any())
        )
        if not cut or half >= MAX_WINDOW_FRACTION * max(h, w):
            return _paste(part, gray.shape, x0, y0)
        half *= 2


def with_background(gray: np.ndarray, prompts: Prompts) -> np.ndarray:
    """Marker watershed: foreground points vs background points and the window rim."""
    h, w = gray.shape
    pts = np.array(prompts.points + prompts.background_points)
    if prompts.box is not None:
        x0, y0, x1, y1 = clip_box(prompts.box, gray.shape)
    else:
        half = max(START_HALF_WINDOW, int(np.ptp(pts, axis=0).max()))
        x0, y0 = max(0, int(pts[:, 0].min()) - half), max(0, int(pts[:, 1].min()) - half)
        x1, y1 = min(w, int(pts[:, 0].max()) + half + 1), min(h, int(pts[:, 1].max()) + half + 1)
    crop = filters.gaussian(gray[y0:y1, x0:x1], 1.0)
    markers = np.zeros(crop.shape, np.int32)
    markers[[0, -1], :] = 2
    markers[:, [0, -1]] = 2
    for (x, y), value in [(p, 2) for p in prompts.background_points] + [
        (p, 1) for p in prompts.points
    ]:
        if x0 <= x < x1 and y0 <= y < y1:
            markers[max(0, y - y0 - 1) : y - y0 + 2, max(0, x - x0 - 1) : x - x0 + 2] = value
    region = segmentation.watershed(filters.sobel(crop), markers) == 1
    return _paste(region, gray.shape, x0, y0)


def keep_prompted(mask: np.ndarray, prompts: Prompts) -> Labels:
    """Keep the components under foreground points, else the largest one."""
    comp, n = ndi.label(mask)
    if n <= 1:
        return np.asarray(comp, np.int32)
    hit = {int(comp[y, x]) for x, y in prompts.points if comp[y, x] > 0}
    if not hit:
        hit = {int(np.argmax(np.bincount(comp.ravel())[1:]) + 1)}
    return np.asarray(np.isin(comp, list(hit)), np.int32)


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
        gray = to_gray(image.pixels)
        check_prompts(prompts, gray.shape)
        seed = prompts.points[0] if prompts.points else None
        if prompts.background_points and prompts.points:
            mask, method = with_background(gray, prompts), "marker watershed on gradient"
        elif prompts.box is not None:
            mask, method = from_box(gray, prompts.box, seed), "Otsu split inside the box"
        else:
            assert seed is not None
            mask = np.zeros(gray.shape, bool)
            for point in prompts.points:
                mask |= from_point(gray, point)
            method = "Otsu split in a growing window around the point"
        labels = keep_prompted(mask, prompts)
        notes = [] if labels.any() else ["nothing found at the prompt: try a tighter box"]
        return Segmentation(labels, {1: "selected object"}, method, notes=notes)
