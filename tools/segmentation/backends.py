"""Which segmenter serves a target: weight-free classical ones, or a model when asked."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

from tools.errors import ToolArgumentError, ToolError
from tools.segmentation.anatomy import LungFieldsSegmenter, RetinalVesselSegmenter, TissueSegmenter
from tools.segmentation.config import SamSettings, SegmentationConfig, TotalSegSettings
from tools.segmentation.interactive import InteractiveSegmenter
from tools.segmentation.nuclei import NucleiSegmenter
from tools.segmentation.sam import SamSegmenter
from tools.segmentation.types import Segmenter, Target
from tools.segmentation.volumetric import VolumeSegmenter

Backend = Literal["classical", "sam", "totalsegmentator"]

CLASSICAL: dict[Target, Segmenter] = {
    Target.NUCLEI_HE: NucleiSegmenter(),
    Target.NUCLEI_FLUORESCENCE: NucleiSegmenter(),
    Target.TISSUE: TissueSegmenter(),
    Target.LUNG_FIELDS: LungFieldsSegmenter(),
    Target.RETINAL_VESSELS: RetinalVesselSegmenter(),
    Target.PROMPTED: InteractiveSegmenter(),
}


@cache
def _load_sam(path: Path, device: str, normalize: str) -> SamSegmenter:
    return SamSegmenter.from_path(path, device, normalize)


def sam_segmenter(settings: SamSettings) -> SamSegmenter:
    """Return the configured SAM model, loaded once per process on first use."""
    if settings.path is None:
        raise ToolError(
            "the sam backend is not configured: set sam.path in configs/segmentation.yaml to a "
            "local transformers SAM or MedSAM folder, or use backend 'classical'."
        )
    return _load_sam(settings.path, settings.device, settings.normalize)


@cache
def _load_totalseg(settings: TotalSegSettings) -> VolumeSegmenter:
    from tools.segmentation.totalseg import TotalSegmentatorSegmenter

    return TotalSegmentatorSegmenter(settings)


def volume_segmenter(config: SegmentationConfig) -> VolumeSegmenter:
    """The 3-D backend for target ct_organs (TotalSegmentator), loaded once on first use."""
    return _load_totalseg(config.totalsegmentator)


def get_segmenter(target: Target, backend: Backend, config: SegmentationConfig) -> Segmenter:
    """Return the segmenter for `target` on `backend`, or ToolArgumentError naming what works."""
    if target is Target.CT_ORGANS or backend == "totalsegmentator":
        raise ToolArgumentError(
            "backend 'totalsegmentator' segments target 'ct_organs' on a CT series, and "
            "target 'ct_organs' needs that backend."
        )
    if backend == "classical":
        return CLASSICAL[target]
    if target is not Target.PROMPTED:
        raise ToolArgumentError(
            f"backend 'sam' only segments target 'prompted' (with points or a box), not "
            f"{target.value!r}; use backend 'classical' for {target.value!r}."
        )
    return sam_segmenter(config.sam)
