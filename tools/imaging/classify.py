"""What an image shows, decided once at upload: from the DICOM header, else from its pixels.

The header decides when it can (Modality, then Body Part Examined). Otherwise a small,
weight-free classifier looks at the decoded preview: a few colour and layout statistics
and hand-set thresholds, each rule readable on its own, so a wrong class can be explained
and corrected. Rules, in the order they are tried:

1. fundus: a colour photo whose corners are black (the round field of view of a fundus
   camera) and whose inside is red-dominated (the retina);
2. fluorescence: a dark background (median luminance low, many near-black pixels) with a
   bright foreground covering a real share of the image (nuclei, not a few stars);
3. stained_tissue: a colour image on a light background (bright-field microscopy) with
   almost no green, yellow or cyan (H&E is pink and purple, IHC brown and blue);
4. radiograph: a grayscale image of mid luminance with a broad histogram that is roughly
   left-right symmetric at low resolution (a frontal projection of a body);
5. otherwise other.

The thresholds were tuned on one half of the labelled images in ../shared/data and
checked on the other (benchmarks/eval_classify.py; figures in BENCHMARKS.md). A CT or MR
slice exported as PNG is not told apart from a radiograph by its pixels: only the header
says cross_section.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import cv2
import numpy as np
from numpy.typing import NDArray

from tools.attachments import AttachmentKind, ImageClass, ImageFacts

__all__ = [
    "ClassDecision",
    "ImageFeatures",
    "classify",
    "classify_upload",
    "decide",
    "features",
    "from_header",
]

ANALYSIS_SIDE = 256
"""Longer side the preview is shrunk to before measuring: layout and colour, not detail."""

_RADIOGRAPH_MODALITIES = frozenset({"CR", "DX", "MG", "RG", "PX", "IO", "XA", "RF", "DF"})
_CROSS_SECTION_MODALITIES = frozenset({"CT", "MR", "PT", "NM"})
_OTHER_MODALITIES = frozenset({"US", "OPT", "ECG", "SR", "PR", "KO", "SEG", "RTSTRUCT"})
"""Ultrasound, OCT and non-image objects: none of the pixel classes applies."""


@dataclass(frozen=True)
class ClassDecision:
    """The class, who decided it, and a one-line reason a person can check."""

    image_class: ImageClass
    by: Literal["header", "classifier"]
    reason: str


@dataclass(frozen=True)
class ImageFeatures:
    """The statistics the rules look at, all on a 0-1 luminance/colour scale."""

    chroma: float
    """Mean of max(R,G,B) - min(R,G,B): 0 for grayscale, ~0.2+ for stains and photos."""
    median: float
    """Median luminance."""
    dark_share: float
    """Share of pixels darker than 0.12 (background of fluorescence, border of fundus)."""
    bright_share: float
    """Share of pixels brighter than 0.5 of the 99.5th percentile, over a dark background."""
    spread: float
    """Standard deviation of luminance."""
    green_share: float
    """Among coloured pixels, the share with a green/yellow/cyan hue (60-200 degrees)."""
    corner: float
    """Mean luminance outside the inscribed ellipse (the corners)."""
    inside: float
    """Mean luminance of the central ellipse (0.8 of the inscribed one)."""
    red_lead: float
    """Inside the central ellipse: mean red minus mean green (retina is red)."""
    symmetry: float
    """Correlation of the blurred 32x32 luminance with its left-right mirror (-1..1)."""

    def as_dict(self) -> dict[str, float]:
        """Rounded values, for logs and benchmark tables."""
        return {k: round(v, 3) for k, v in asdict(self).items()}


def _rgb_small(pixels: NDArray[np.generic]) -> NDArray[np.uint8]:
    """8-bit RGB copy with the longer side at most ANALYSIS_SIDE (area averaging)."""
    px = np.asarray(pixels)
    if px.ndim == 3 and px.shape[2] == 1:
        px = px[..., 0]
    if px.ndim not in (2, 3) or min(px.shape[:2]) < 1:
        raise ValueError(f"expected an H×W or H×W×C pixel array, got shape {px.shape}")
    if px.dtype != np.uint8:
        lo, hi = float(np.min(px)), float(np.max(px))
        px = ((px.astype(np.float64) - lo) * (255.0 / max(hi - lo, 1e-9))).astype(np.uint8)
    if px.ndim == 2:
        px = np.repeat(px[..., None], 3, axis=2)
    px = np.ascontiguousarray(px[..., :3])
    h, w = px.shape[:2]
    scale = ANALYSIS_SIDE / max(h, w)
    if scale < 1:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        px = cv2.resize(px, size, interpolation=cv2.INTER_AREA)
    return np.asarray(px, dtype=np.uint8)


def _symmetry(lum: NDArray[np.float32]) -> float:
    small = cv2.GaussianBlur(cv2.resize(lum, (32, 32), interpolation=cv2.INTER_AREA), (5, 5), 0)
    a = small - small.mean()
    b = a[:, ::-1]
    norm = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / norm) if norm > 1e-9 else 0.0


def features(pixels: NDArray[np.generic]) -> ImageFeatures:
    """Measure the statistics the rules use on a decoded preview (H×W or H×W×C, any dtype)."""
    rgb = _rgb_small(pixels)
    f = rgb.astype(np.float32) / 255.0
    lum = f.mean(axis=2)
    chroma = f.max(axis=2) - f.min(axis=2)
    hue = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)[..., 0].astype(np.float32) * 2.0
    coloured = chroma > 0.08
    greenish = coloured & (hue >= 60) & (hue <= 200)
    h, w = lum.shape
    yy, xx = np.mgrid[:h, :w]
    radius = np.hypot((yy - (h - 1) / 2) / (h / 2), (xx - (w - 1) / 2) / (w / 2))
    corners = radius > 1.05
    centre = radius < 0.8
    inner = f[centre]
    top = float(np.percentile(lum, 99.5))
    return ImageFeatures(
        chroma=float(chroma.mean()),
        median=float(np.median(lum)),
        dark_share=float((lum < 0.12).mean()),
        bright_share=float((lum > 0.5 * top).mean()) if top > 0 else 0.0,
        spread=float(lum.std()),
        green_share=float(greenish.sum() / max(1, int(coloured.sum()))),
        corner=float(lum[corners].mean()) if corners.any() else float(lum.mean()),
        inside=float(lum[centre].mean()),
        red_lead=float(inner[:, 0].mean() - inner[:, 1].mean()),
        symmetry=_symmetry(lum),
    )


def _by_pixels(x: ImageFeatures) -> tuple[ImageClass, str]:
    colour = x.chroma >= 0.04
    if colour and x.corner < 0.10 and x.inside > 0.2 and x.red_lead > 0.12:
        return ImageClass.FUNDUS, "black corners around a red, round field of view"
    if x.median < 0.2 and x.dark_share > 0.25 and 0.04 <= x.bright_share <= 0.7:
        return ImageClass.FLUORESCENCE, "bright objects on a dark background"
    if colour and x.median > 0.35 and x.green_share < 0.06 and x.dark_share < 0.15:
        return ImageClass.STAINED_TISSUE, "pink/purple/brown colours on a light background"
    if not colour and 0.25 < x.median < 0.9 and x.spread > 0.12 and x.symmetry > 0.4:
        return ImageClass.RADIOGRAPH, "grayscale, broad histogram, left-right symmetric"
    return ImageClass.OTHER, "none of the radiograph, stain, fluorescence or fundus patterns"


def from_header(modality: str | None, body_part: str | None = None) -> ImageClass | None:
    """The class the DICOM header settles, or None when the pixels must decide.

    CR/DX/MG/XA... are projection radiographs, CT/MR/PET/NM cross-sections, SM (slide
    microscopy) stained tissue, OP (ophthalmic photography) fundus; US, OCT and
    non-image objects are other. SC/OT/XC/GM (captures of anything) fall to the pixels.
    `body_part` does not change the class; narrowing uses it (lungs only for a chest).
    """
    del body_part  # part of the signature so callers pass what the header has
    code = (modality or "").strip().upper()
    if code in _RADIOGRAPH_MODALITIES:
        return ImageClass.RADIOGRAPH
    if code in _CROSS_SECTION_MODALITIES:
        return ImageClass.CROSS_SECTION
    if code == "SM":
        return ImageClass.STAINED_TISSUE
    if code == "OP":
        return ImageClass.FUNDUS
    if code in _OTHER_MODALITIES:
        return ImageClass.OTHER
    return None


def decide(
    pixels: NDArray[np.generic] | None,
    modality: str | None = None,
    body_part: str | None = None,
) -> ClassDecision:
    """Class of an image from its DICOM modality/body part, else its decoded preview pixels.

    `pixels` is the preview as decoded for display (H×W grey or H×W×3 RGB; other dtypes
    are rescaled to 8 bits); it may be None only when the header decides.
    """
    header = from_header(modality, body_part)
    if header is not None:
        return ClassDecision(header, "header", f"DICOM modality {(modality or '').upper()}")
    if pixels is None:
        return ClassDecision(ImageClass.OTHER, "header", "no pixels and no telling modality")
    image_class, reason = _by_pixels(features(pixels))
    return ClassDecision(image_class, "classifier", reason)


def classify(
    pixels: NDArray[np.generic] | None,
    modality: str | None = None,
    body_part: str | None = None,
) -> ImageClass:
    """The image class alone (see `decide` for who decided and why)."""
    return decide(pixels, modality, body_part).image_class


def classify_upload(
    kind: AttachmentKind, facts: ImageFacts, pixels: NDArray[np.uint8]
) -> ImageFacts:
    """The intake hook (`tools.intake.Classify`): facts with the image class filled in.

    A class the person already set is kept. A CT/MR series is a cross-section by its
    header; a slide whose header says nothing is judged by its thumbnail like any image.
    """
    if facts.image_class_by == "person":
        return facts
    decision = decide(pixels, facts.modality, facts.body_part)
    if kind is AttachmentKind.SERIES and decision.by == "classifier":
        decision = ClassDecision(ImageClass.CROSS_SECTION, "header", "a series of slices")
    return facts.model_copy(
        update={"image_class": decision.image_class, "image_class_by": decision.by}
    )
