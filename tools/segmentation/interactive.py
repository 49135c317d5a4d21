"""Interactive segmentation of anything from point or box prompts, without weights.

- A box: Otsu split of the (smoothed) box contents; the object is the class that fills
  the box centre more than its rim; its largest component, holes filled. With points
  inside the box, the class and component under the first point are taken instead.
- Points only: the most stable region around each point. Pixels are compared with the
  clicked colour (CIELAB for colour images, intensity otherwise, lightly smoothed); the
  region connected to the point is grown over rising distance thresholds, and the one
  whose area changes least between neighbouring thresholds wins (the idea of maximally
  stable extremal regions): it is where the object's edge holds against the threshold.
- Background points: marker watershed on the gradient magnitude, foreground points vs
  background points and the window rim, so the cut follows the strongest edge between.

Good for: an object that is darker or brighter than its surroundings (a nucleus, a
nodule, a lesion on a clean background), given a box that hugs it. Fails on: objects as
textured as their background, low contrast, objects touching a similar neighbour (they
merge; add a background point), nuclei whose inside is as varied as their surroundings
(fluorescence nuclei from a point: a box is better). GrabCut
was tried first and rejected: on grayscale and fluorescence images it often labelled the
whole box background (see BENCHMARKS.md).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from tools.errors import ToolArgumentError
from tools.segmentation._skimage import color, filters, segmentation
from tools.segmentation.preprocess import to_float, to_gray
from tools.segmentation.types import Labels, Prompts, SegInput, Segmentation, Target

START_HALF_WINDOW = 16
"""Smallest half-window around background-point prompts."""
POINT_HALF_WINDOW = 512
"""A point prompt looks this far (pixels) around the point: objects up to ~1000 px across."""
STABILITY_LEVELS = 48
STABILITY_SPAN = 2
"""Stability compares the areas this many thresholds below and above."""
MAX_REGION_QUANTILE = 0.6
"""Thresholds run from 0 to this quantile of the colour distances in the window."""
MIN_REGION_PIXELS = 20

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
                f"box x={x0}, y={y0}, width={x1 - x0}, height={y1 - y0} is empty: width and "
                "height must be at least 1 pixel."
            )
        if x1 <= 0 or y1 <= 0 or x0 >= w or y0 >= h:
            raise ToolArgumentError(
                f"box x={x0}, y={y0}, width={x1 - x0}, height={y1 - y0} lies outside the "
                f"{w}×{h} image (x in 0..{w - 1}, y in 0..{h - 1})."
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


def point_features(pixels: np.ndarray) -> np.ndarray:
    """H×W×C features compared with the clicked pixel: smoothed CIELAB, or intensity × 100."""
    px = to_float(pixels)
    if px.ndim == 3:
        feats = np.asarray(color.rgb2lab(px[..., :3]), np.float32)
    else:
        lo, hi = float(px.min()), float(px.max())
        feats = ((px - lo) / max(hi - lo, 1e-9) * 100.0)[..., None].astype(np.float32)
    return np.stack([ndi.gaussian_filter(feats[..., c], 1.0) for c in range(feats.shape[2])], -1)


def from_point(feats: np.ndarray, point: Point) -> np.ndarray:
    """The most stable region connected to a point (see the module docstring)."""
    h, w = feats.shape[:2]
    x, y = point
    x0, y0 = max(0, x - POINT_HALF_WINDOW), max(0, y - POINT_HALF_WINDOW)
    x1, y1 = min(w, x + POINT_HALF_WINDOW + 1), min(h, y + POINT_HALF_WINDOW + 1)
    crop = feats[y0:y1, x0:x1]
    sx, sy = x - x0, y - y0
    ref = crop[max(0, sy - 1) : sy + 2, max(0, sx - 1) : sx + 2].reshape(-1, crop.shape[2])
    dist = np.linalg.norm(crop - ref.mean(axis=0), axis=2)
    top = float(np.quantile(dist, MAX_REGION_QUANTILE))
    regions: list[np.ndarray] = []
    for threshold in np.linspace(0.0, top, STABILITY_LEVELS + 1)[1:]:
        lab, _ = ndi.label(dist <= threshold)
        regions.append(lab == lab[sy, sx] if lab[sy, sx] else np.zeros(dist.shape, bool))
    areas = np.array([r.sum() for r in regions], float)
    span = STABILITY_SPAN
    growth = np.full(len(regions), np.inf)
    for k in range(span, len(regions) - span):
        if MIN_REGION_PIXELS <= areas[k] <= 0.5 * dist.size:
            growth[k] = (areas[k + span] - areas[k - span]) / areas[k]
    if not np.isfinite(growth).any():
        return np.zeros((h, w), bool)
    # Ties (flat images): the middle of the longest run of equally steady thresholds.
    steady = growth <= growth.min() + 1e-9
    runs, start = [], None
    for k, flag in enumerate([*steady, False]):
        if flag and start is None:
            start = k
        elif not flag and start is not None:
            runs.append((k - start, start))
            start = None
    length, first = max(runs)
    best = first + length // 2
    return _paste(np.asarray(ndi.binary_fill_holes(regions[best]), bool), (h, w), x0, y0)


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
                "or a box {x, y, width, height} around it (pixels)."
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
            feats = point_features(image.pixels)
            mask = np.zeros(gray.shape, bool)
            for point in prompts.points:
                mask |= from_point(feats, point)
            method = "most stable colour region around the point"
        labels = keep_prompted(mask, prompts)
        notes = [] if labels.any() else ["nothing found at the prompt: try a tighter box"]
        return Segmentation(labels, {1: "selected object"}, method, notes=notes)
