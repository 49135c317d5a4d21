"""Weight-free segmentation of anatomy: lung fields (CXR), retinal vessels, tissue.

These are classical image-analysis baselines, fast on CPU and needing no weights. Each
class documents what it is good for and where it fails; quality on real data is in
``BENCHMARKS.md``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage as ndi

from tools.segmentation._skimage import exposure, filters, measure, morphology
from tools.segmentation.preprocess import drop_alpha, resize_labels, resize_to, to_float, to_gray
from tools.segmentation.types import Labels, Prompts, SegInput, Segmentation, Target

LUNG_WORK_SIDE = 256
"""Lung fields are found on a 256-px copy (fast, and smooths out ribs), then upsampled."""


class LungFieldsSegmenter:
    """Lung fields on a frontal (PA/AP) chest radiograph.

    Thresholds at several quantiles, keeps dark, tall components that do not touch the
    image border (outside air does), scores left/right pairs by size, position and
    symmetry, and fills each lung by its convex hull so opacities inside count.
    Good for: frontal adult and paediatric CXRs. Fails on: lateral views, white-out lung,
    large effusions or collapse (the hull follows what is still dark), strongly rotated
    films; the convex hull overshoots the heart border of the left lung.
    """

    name = "classical"
    targets = frozenset({Target.LUNG_FIELDS})

    def segment(self, image: SegInput, target: Target, prompts: Prompts) -> Segmentation:
        """Label the patient's right lung 1 (image left) and left lung 2 (image right)."""
        shape = (int(image.pixels.shape[0]), int(image.pixels.shape[1]))
        small, _ = resize_to(to_gray(image.pixels), LUNG_WORK_SIDE)
        small = np.clip(small, 0.0, 1.0)  # resampling can overshoot [0, 1] by rounding
        labels = np.zeros(small.shape, np.int32)
        if np.ptp(small) > 0.05:  # CLAHE invents structure in a flat image
            small = exposure.equalize_adapthist(small, clip_limit=0.01)
            labels = _lungs(filters.gaussian(small, 1.5))
        names = {1: "right lung", 2: "left lung"}
        notes = ["right/left are the patient's (radiological convention: right lung on image left)"]
        found = {int(v) for v in np.unique(labels) if v}
        if found != {1, 2}:
            missing = [names[k] for k in (1, 2) if k not in found]
            notes.append(f"not found: {', '.join(missing)} (opacity, lateral view or not a CXR?)")
        return Segmentation(resize_labels(labels, shape), names, _LUNG_METHOD, notes=notes)


_LUNG_METHOD = "multi-quantile threshold + border/shape scoring + convex hull per lung"


def _side_score(reg: Any, shape: tuple[int, int], side: int) -> float:
    """Plausibility of a dark component as one lung: area, position, tall shape."""
    h, w = shape
    cy, cx = reg.centroid
    r0, c0, r1, c1 = reg.bbox
    expected_x = 0.28 if side == 0 else 0.72
    tall = min(1.0, (r1 - r0) / h / max((c1 - c0) / w, 1e-6))
    position = np.exp(-(((cx / w - expected_x) / 0.15) ** 2)) * np.exp(
        -(((cy / h - 0.45) / 0.25) ** 2)
    )
    return float(reg.area / (h * w) * position * tall)


def _lungs(s: np.ndarray) -> Labels:
    h, w = s.shape
    radius = max(2, round(0.015 * max(h, w)))
    centre = s[h // 10 : h - h // 10, w // 10 : w - w // 10]
    best: tuple[float, float, np.ndarray, list[Any]] | None = None
    for q in np.linspace(0.15, 0.6, 10):
        t = float(np.quantile(centre, q))
        core = ndi.binary_opening(s < t, morphology.disk(radius))
        lab = measure.label(core)
        border = set(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]).tolist())
        regs = [
            r
            for r in measure.regionprops(lab)
            if r.label not in border and 0.03 <= r.area / (h * w) <= 0.35
        ]
        sides: list[Any] = []
        score = 0.0
        for side in (0, 1):
            cands = [r for r in regs if (r.centroid[1] < w / 2) == (side == 0)]
            pick = max(cands, key=lambda r: _side_score(r, (h, w), side)) if cands else None
            sides.append(pick)
            score += _side_score(pick, (h, w), side) if pick is not None else 0.0
        if all(p is not None for p in sides):
            a0, a1 = (p.area for p in sides)
            score *= 1.5 * min(a0, a1) / max(a0, a1)
        if score > 0 and (best is None or score > best[0]):
            best = (score, t, lab, sides)
    out = np.zeros((h, w), np.int32)
    if best is None:
        return out
    _, t, lab, sides = best
    dark = s < t
    for side, reg in enumerate(sides):
        if reg is None:
            continue
        grown = morphology.dilation(lab == reg.label, morphology.disk(radius)) & dark
        comp = measure.label(grown)
        lung = comp == np.argmax(np.bincount(comp.ravel())[1:]) + 1
        out[morphology.convex_hull_image(lung) & (out == 0)] = side + 1
    return out


VESSEL_FRACTION = 0.13
"""Share of the field of view labelled vessel (DRIVE manual masks: about 12–14 %)."""


def field_of_view(rgb: np.ndarray) -> np.ndarray:
    """Find the bright disc of a fundus photograph (red channel above a fraction of Otsu)."""
    red = to_float(rgb[..., 0]) if rgb.ndim == 3 else to_float(rgb)
    fov = red > max(0.08, filters.threshold_otsu(red) * 0.5)
    fov = ndi.binary_fill_holes(ndi.binary_opening(fov, iterations=2))
    return np.asarray(ndi.binary_erosion(fov, iterations=3), bool)


class RetinalVesselSegmenter:
    """Retinal vessels on a colour fundus photograph.

    Green channel, CLAHE, white top-hat of the inverted image (vessels are thin dark
    lines), then keeps the strongest 13 % of the field of view. Good for: DRIVE/HRF-like
    colour fundus images. Fails on: capillaries and vessel ends (missed), the optic-disc
    rim and haemorrhages (false vessels); the fixed fraction over-segments images with
    few vessels (e.g. zoomed-in crops).
    """

    name = "classical"
    targets = frozenset({Target.RETINAL_VESSELS})

    def segment(self, image: SegInput, target: Target, prompts: Prompts) -> Segmentation:
        """Label vessels 1."""
        rgb = drop_alpha(image.pixels)
        green = to_float(rgb[..., 1] if rgb.ndim == 3 else rgb)
        fov = field_of_view(rgb)
        if fov.sum() < 0.05 * fov.size:
            fov = np.ones_like(fov)
        inv = 1.0 - exposure.equalize_adapthist(green, clip_limit=0.01)
        inv[~fov] = np.median(inv[fov])
        diameter = np.sqrt(fov.sum() / np.pi) * 2
        radius = max(3, round(7 * diameter / 540))  # 7 px suits DRIVE's 540-px field of view
        response = filters.gaussian(morphology.white_tophat(inv, morphology.disk(radius)), 0.5)
        vessels = (response > np.quantile(response[fov], 1 - VESSEL_FRACTION)) & fov
        vessels = morphology.remove_small_objects(vessels, max_size=30)
        method = f"green CLAHE + top-hat (r={radius}px) + top {VESSEL_FRACTION:.0%} of field"
        return Segmentation(vessels.astype(np.int32), {1: "retinal vessels"}, method)


class TissueSegmenter:
    """Tissue versus bright background on a slide thumbnail or any microscopy image.

    Tissue is coloured (saturation) or darker than the glass: Otsu on both, closed and
    cleaned. Good for: H&E/IHC thumbnails. Fails on: very pale tissue, pen marks and
    bubbles (counted as tissue), fluorescence (dark background: everything bright is
    tissue only if inverted first, which this does not do).
    """

    name = "classical"
    targets = frozenset({Target.TISSUE})

    def segment(self, image: SegInput, target: Target, prompts: Prompts) -> Segmentation:
        """Label tissue 1."""
        px = drop_alpha(image.pixels)
        gray = to_gray(px)
        tissue = np.zeros(gray.shape, bool)
        if np.ptp(gray) > 0:
            tissue = gray < filters.threshold_otsu(gray)
        if px.ndim == 3:
            rgb = to_float(px)
            sat = rgb.max(axis=2) - rgb.min(axis=2)
            if np.ptp(sat) > 0.05:
                tissue = tissue | (sat > filters.threshold_otsu(sat))
        radius = max(1, round(max(gray.shape) / 200))
        tissue = ndi.binary_closing(tissue, morphology.disk(radius))
        tissue = morphology.remove_small_objects(tissue, max_size=max(16, tissue.size // 2000))
        tissue = np.asarray(ndi.binary_fill_holes(tissue), bool)
        method = "Otsu on darkness and saturation + closing"
        return Segmentation(tissue.astype(np.int32), {1: "tissue"}, method)
