"""From a `segment` result to DICOM files: the SEG, its TID 1500 measurement report.

`read_segmentation` reads what the segment tool stored (its JSON result and the mask
PNG or NIfTI label volume it wrote under the session folder); `export_segmentation`
builds the SEG and SR from the attachment's original instances and writes them under
``<session>/exports/``. Measurements are recomputed from the mask and the source's
pixel spacing (not copied from rounded tool output).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from numpy.typing import NDArray
from PIL import Image
from pydicom.dataset import Dataset

from tools.dicom_export.seg import Algorithm, SegmentSpec, build_seg
from tools.dicom_export.sources import SourceImages
from tools.dicom_export.sr import MeasuredSegment, build_measurement_report
from tools.errors import ToolError
from tools.imaging.limits import captured_warnings
from tools.segmentation.volumetric import labels_from_nifti

__all__ = ["ExportedObjects", "SegmentationOutput", "export_segmentation", "read_segmentation"]

EXPORT_DIR = "exports"
_INSTANCE_TARGETS = frozenset({"nuclei_he", "nuclei_fluorescence"})


@dataclass(frozen=True)
class SegmentationOutput:
    """A stored segment result: the label image on the source grid and its names."""

    image_id: str
    target: str
    method: str
    labels: NDArray[np.int32]
    """(frames, rows, columns); a 2-D result fills the frame it analysed (its `frame`)."""
    names: dict[int, str]
    volumetric: bool
    voxel_mm: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class ExportedObjects:
    """The DICOM objects written for one result, and where."""

    seg: Dataset
    seg_path: Path
    sr: Dataset | None = None
    sr_path: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def datasets(self) -> list[Dataset]:
        """SEG first, then the SR if any."""
        return [self.seg] + ([self.sr] if self.sr is not None else [])


def _labels_2d(path: Path) -> NDArray[np.int32]:
    with Image.open(path) as img:
        return np.asarray(img, np.int32)


def read_segmentation(
    result: Mapping[str, Any], session_dir: Path, sources: SourceImages
) -> SegmentationOutput:
    """The label image and names of a stored segment result (its JSON as a dict)."""
    structures = list(result.get("structures", []))
    target = str(result.get("target", ""))
    rows, cols = int(sources.datasets[0].Rows), int(sources.datasets[0].Columns)
    if result.get("labels_nifti"):
        shape = (sources.frames, rows, cols)
        labels = labels_from_nifti(nib.load(session_dir / str(result["labels_nifti"])), shape)
        voxel: tuple[float, ...] = tuple(float(v) for v in result.get("voxel_mm", ()))
        return SegmentationOutput(
            str(result["image_id"]), target, str(result.get("method", "")), labels,
            {int(s["label"]): str(s["name"]) for s in structures}, True,
            voxel if len(voxel) == 3 else None,
        )  # fmt: skip
    if not result.get("mask_png"):
        raise ToolError("this result has no stored mask (mask_png or labels_nifti)")
    plane = _labels_2d(session_dir / str(result["mask_png"]))
    if plane.shape != (rows, cols):
        raise ToolError(
            f"the mask is {plane.shape[1]}×{plane.shape[0]} px but the image is {cols}×{rows}"
        )
    labels = np.zeros((sources.frames, rows, cols), np.int32)
    labels[_analysed_frame(result, sources)] = plane
    if target in _INSTANCE_TARGETS:
        name = str(structures[0]["name"]).rsplit(" ", 1)[0] if structures else "nucleus"
        names = {0: name}
    else:
        names = {int(s["label"]): str(s["name"]) for s in structures}
    return SegmentationOutput(
        str(result["image_id"]), target, str(result.get("method", "")), labels, names, False
    )


def _analysed_frame(result: Mapping[str, Any], sources: SourceImages) -> int:
    """The frame a 2-D result was computed on: it must say so when there are several."""
    frame = result.get("frame")
    if frame is None:
        if sources.frames > 1:
            raise ToolError(
                f"this 2-D result does not say which of the {sources.frames} slices or frames "
                f"of {sources.image_id} it analysed, so it cannot be placed in a DICOM SEG; "
                "segment the series in 3-D (target ct_organs) or a single image instead"
            )
        return 0
    if not 0 <= int(frame) < sources.frames:
        raise ToolError(f"frame {frame} is outside {sources.image_id}'s {sources.frames} frames")
    return int(frame)


def _segments(out: SegmentationOutput) -> list[SegmentSpec]:
    present = [int(v) for v in np.unique(out.labels) if v > 0]
    if out.target in _INSTANCE_TARGETS:  # many objects of one kind: one segment
        return [SegmentSpec(1, out.names.get(0, "nucleus"), tuple(present))] if present else []
    return [
        SegmentSpec(n, out.names.get(value, f"structure {value}"), (value,))
        for n, value in enumerate(present, start=1)
    ]


def _spacing(ds: Dataset) -> tuple[float, float] | None:
    value = ds.get("PixelSpacing")
    if value is None:
        shared = ds.get("SharedFunctionalGroupsSequence")
        measures = shared[0].get("PixelMeasuresSequence") if shared else None
        value = measures[0].get("PixelSpacing") if measures else None
    try:
        return float(value[0]), float(value[1])
    except (TypeError, ValueError, IndexError):
        return None


def _measure(
    out: SegmentationOutput, specs: list[SegmentSpec], sources: SourceImages, notes: list[str]
) -> list[MeasuredSegment]:
    counts = {s.number: int(np.isin(out.labels, s.values).sum()) for s in specs}
    if out.volumetric:
        if out.voxel_mm is None:
            notes.append("no voxel size: volumes are not reported")
            return []
        per_voxel_ml = float(np.prod(out.voxel_mm)) / 1000.0
        return [
            MeasuredSegment(s.number, s.name, volume_ml=round(counts[s.number] * per_voxel_ml, 3))
            for s in specs
        ]
    spacing = _spacing(sources.datasets[0])
    if spacing is None:
        notes.append("no pixel spacing in the source: areas are not reported in the SR")
        return []
    per_px = spacing[0] * spacing[1]
    return [MeasuredSegment(s.number, s.name, area_mm2=round(counts[s.number] * per_px, 3))
            for s in specs]  # fmt: skip


def export_segmentation(
    result: Mapping[str, Any],
    session_dir: Path,
    sources: SourceImages,
    *,
    with_report: bool = True,
) -> ExportedObjects:
    """Write the SEG (and the measurement SR) of a stored segment result; return them."""
    out = read_segmentation(result, session_dir, sources)
    specs = _segments(out)
    backend = str(result.get("backend", "classical"))
    prompted = out.target == "prompted"
    algorithm = Algorithm(f"medassist {backend} {out.target}"[:64], automatic=not prompted)
    seg = build_seg(sources, out.labels, specs, algorithm,
                    description=f"MedAssist {out.target}")  # fmt: skip
    folder = session_dir / EXPORT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    stem = uuid.uuid4().hex[:12]
    seg_path = folder / f"seg-{stem}.dcm"
    with captured_warnings():
        seg.save_as(seg_path)
    notes: list[str] = []
    if not with_report:
        return ExportedObjects(seg, seg_path, notes=notes)
    measured = _measure(out, specs, sources, notes)
    if not measured:
        return ExportedObjects(seg, seg_path, notes=notes)
    sr = build_measurement_report(seg, sources, measured, algorithm)
    sr_path = folder / f"sr-{stem}.dcm"
    with captured_warnings():
        sr.save_as(sr_path)
    return ExportedObjects(seg, seg_path, sr, sr_path, notes)
