"""Weight-free nuclei segmentation: H&E (colour deconvolution) and fluorescence.

Both follow the same path: a nuclear-signal image, an Otsu threshold, clean-up, then a
distance-transform watershed that splits touching nuclei. Sizes scale with the
microns per pixel (assumed 0.5 µm/px, i.e. 20x, when unknown).

Good for: well-stained H&E tiles at 20x–40x, DAPI/Hoechst images with bright nuclei on a
dark background. Fails on: heavily overlapping or clumped nuclei (under-split), pale
vesicular nuclei (missed), strong stain variation across a tile, and on anything other
than nuclei (the threshold will find *something* in any image).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from tools.errors import ToolArgumentError
from tools.segmentation._skimage import color, feature, filters, morphology, segmentation
from tools.segmentation.preprocess import Float, drop_alpha, to_float, to_gray
from tools.segmentation.types import Labels, Prompts, SegInput, Segmentation, Target

DEFAULT_MPP = 0.5
NUCLEUS_DIAMETER_UM = 6.0
"""Typical nucleus diameter; sets the smallest object and the watershed marker spacing."""


def hematoxylin(pixels: np.ndarray) -> Float:
    """Hematoxylin optical density (colour deconvolution, Ruifrok & Johnston) in [0, 1]."""
    rgb = drop_alpha(pixels)
    if rgb.ndim != 3:
        raise ToolArgumentError(
            "target 'nuclei_he' needs a colour (RGB) H&E image, and this image is grayscale: "
            "use 'nuclei_fluorescence' for nuclei in a grayscale image, or another target."
        )
    hed = color.rgb2hed(to_float(rgb) if rgb.dtype != np.uint8 else rgb)
    return to_float(hed[..., 0])


def split_nuclei(mask: np.ndarray, radius_px: float) -> Labels:
    """Label a binary nuclei mask, splitting touching nuclei by distance watershed."""
    distance = ndi.distance_transform_edt(mask)
    smooth = filters.gaussian(distance, sigma=max(0.5, radius_px / 4))
    min_distance = max(2, round(radius_px * 0.9))
    peaks = feature.peak_local_max(
        smooth, min_distance=min_distance, labels=ndi.label(mask)[0], exclude_border=False
    )
    markers = np.zeros(mask.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    labels = segmentation.watershed(-smooth, markers, mask=mask)
    # Components that got no peak (tiny or flat) still count as one nucleus.
    missed = mask & (labels == 0)
    if missed.any():
        extra, _ = ndi.label(missed)
        labels[extra > 0] = extra[extra > 0] + labels.max()
    return np.asarray(segmentation.relabel_sequential(labels)[0], np.int32)


def nuclei_mask(signal: Float, radius_px: float, otsu_factor: float = 1.0) -> np.ndarray:
    """Binary nuclei from a nuclear-signal image (bright = nucleus).

    `otsu_factor` < 1 lowers the threshold: H&E tiles have pale nuclei that a plain Otsu
    threshold misses (0.7 was best on the MICCAI tiles, see BENCHMARKS.md).
    """
    smooth = filters.gaussian(signal, sigma=max(0.5, radius_px * 0.2))
    mask = smooth > filters.threshold_otsu(smooth) * otsu_factor
    mask = ndi.binary_opening(mask, morphology.disk(1))
    min_area = max(4, int(np.pi * (radius_px * 0.4) ** 2))
    mask = morphology.remove_small_objects(mask, max_size=min_area)
    return np.asarray(ndi.binary_fill_holes(mask), bool)


class NucleiSegmenter:
    """Classical nuclei instance segmentation for H&E and fluorescence images."""

    name = "classical"
    targets = frozenset({Target.NUCLEI_HE, Target.NUCLEI_FLUORESCENCE})

    def segment(self, image: SegInput, target: Target, prompts: Prompts) -> Segmentation:
        """Segment and count nuclei; prompts are ignored."""
        mpp = image.mpp or DEFAULT_MPP
        radius_px = NUCLEUS_DIAMETER_UM / mpp / 2
        notes = (
            []
            if image.mpp
            else [f"no microns_per_pixel given: nucleus size assumed for {DEFAULT_MPP} µm/px (20x)"]
        )
        if target is Target.NUCLEI_HE:
            signal = hematoxylin(image.pixels)
            method = "hematoxylin deconvolution + 0.7×Otsu + distance watershed"
            factor = 0.7
        else:
            signal = to_gray(image.pixels)
            if signal.mean() > 0.5:  # bright background: nuclei are the dark blobs
                signal = 1.0 - signal
                notes.append("bright background: treated nuclei as dark objects")
            method = "Otsu + distance watershed"
            factor = 1.0
        labels = split_nuclei(nuclei_mask(signal, radius_px, factor), radius_px)
        names = {0: "nucleus"}
        return Segmentation(labels, names, method, instances=True, notes=notes, plural="nuclei")
