"""`segment` on a CT series (target ct_organs): label volume, volumes in mL, slice overlay."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import nibabel as nib
import numpy as np
from PIL import Image
from pydantic import Field

from tools.atomic import atomic_path
from tools.attachments import AttachmentKind
from tools.errors import ToolArgumentError
from tools.imaging.volume import Volume, load_volume
from tools.imaging.windowing import apply_window, preset_window
from tools.registry import ToolContext, ToolResult
from tools.segmentation.outputs import palette, render_overlay
from tools.segmentation.schema import SegmentArgs
from tools.segmentation.types import Target
from tools.segmentation.volumetric import (
    VolumeSegmentation,
    VolumeSegmenter,
    VolumeStructure,
    labels_to_nifti,
    measure_volumes,
)


class VolumeSegmentResult(ToolResult):
    """What segment reports for a CT series: structures with volumes in mL."""

    image_id: str
    target: Target
    backend: str
    method: str
    count: int = Field(description="Number of structures found.")
    total_volume_ml: float
    voxel_mm: tuple[float, float, float] = Field(description="Slice, row, column spacing.")
    structures: list[VolumeStructure] = Field(description="Largest first.")
    structures_not_listed: int = 0
    overlay_slice: int = Field(description="0-based slice shown in the overlay.")
    overlay_png: str
    labels_nifti: str = Field(description="Label volume (NIfTI, the series' own grid).")
    notes: list[str] = Field(default_factory=list)


def _shown_slice(labels: np.ndarray) -> int:
    """The slice with the most labelled voxels (the middle one if nothing was found)."""
    per_slice = (labels > 0).reshape(labels.shape[0], -1).sum(axis=1)
    return int(per_slice.argmax()) if per_slice.any() else labels.shape[0] // 2


def segment_ct(
    args: SegmentArgs,
    ctx: ToolContext,
    backend: Callable[[], VolumeSegmenter],
    max_listed: int,
) -> VolumeSegmentResult:
    """Segment the CT series attached as `args.image_id` with a 3-D backend.

    `backend` is called (loading the model) only once the input is known to be usable.
    """
    att = ctx.attachment(args.image_id)
    if att.kind is not AttachmentKind.SERIES:
        raise ToolArgumentError(
            f"target 'ct_organs' needs a CT series (a ZIP of DICOM slices, or a NIfTI or "
            f"NRRD volume); {att.id} is a single image: use target 'prompted' or another "
            "target for it."
        )
    volume = load_volume(att.path, ctx.deid_key)
    if volume.modality != "CT":
        unknown = "of unknown modality (its header does not say CT)"
        raise ToolArgumentError(
            f"target 'ct_organs' needs a CT series; {att.id} is {volume.modality or unknown}"
        )
    segmenter = backend()
    seg = segmenter.segment_volume(volume)
    structures = sorted(measure_volumes(seg, volume.spacing_mm), key=lambda s: -s.voxels)
    stem = f"seg-ct-{uuid.uuid4().hex[:8]}"
    out = ctx.artifact_dir
    nifti = out / f"{stem}-labels.nii.gz"
    with atomic_path(nifti) as tmp:
        nib.save(labels_to_nifti(seg.labels, volume), tmp)
    shown = _shown_slice(seg.labels)
    overlay = out / f"{stem}-overlay.png"
    with atomic_path(overlay) as tmp:
        _overlay(volume, seg, structures, shown).save(tmp, format="PNG", compress_level=3)
    caption = f"{att.id} slice {shown}: " + ", ".join(s.name for s in structures[:max_listed])
    artifacts = [
        ctx.artifact(overlay, "image", caption),
        ctx.artifact(nifti, "file", "label volume (NIfTI)"),
    ]
    return VolumeSegmentResult(
        artifacts=artifacts,
        image_id=att.id,
        target=Target.CT_ORGANS,
        backend=segmenter.name,
        method=seg.method,
        count=len(structures),
        total_volume_ml=round(sum(s.volume_ml for s in structures), 2),
        voxel_mm=volume.spacing_mm,
        structures=structures[:max_listed],
        structures_not_listed=max(0, len(structures) - max_listed),
        overlay_slice=shown,
        overlay_png=artifacts[0].path,
        labels_nifti=artifacts[1].path,
        notes=volume.notes + seg.notes,
    )


def _overlay(
    volume: Volume, seg: VolumeSegmentation, structures: list[VolumeStructure], index: int
) -> Image.Image:
    """The slice in a soft-tissue window with its structures filled and a legend."""
    pixels = volume.values[index]
    shown = apply_window(pixels, preset_window("abdomen", pixels, None))
    labels = seg.labels[index]
    present = [s for s in structures if np.any(labels == s.label)]
    colours = palette(max((s.label for s in present), default=1), instances=False)
    legend: list[tuple[str, tuple[int, int, int]]] = [
        (f"{s.name}: {s.volume_ml:g} mL", _rgb(colours[s.label - 1])) for s in present[:12]
    ] or [("nothing found on this slice", (128, 128, 128))]
    return render_overlay(shown, labels, legend, instances=False)


def _rgb(colour: np.ndarray) -> tuple[int, int, int]:
    return int(colour[0]), int(colour[1]), int(colour[2])
