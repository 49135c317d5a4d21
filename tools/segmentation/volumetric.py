"""3-D segmentation of a CT series: the backend protocol, NIfTI conversion and volumes in mL.

A `VolumeSegmenter` turns a `Volume` (HU, spacing, affine) into a label volume of the
same shape. NIfTI is the exchange format of 3-D tools: `to_nifti` writes the volume in
nibabel's (column, row, slice) order with the RAS affine, `labels_from_nifti` reads a
label image back into our (slice, row, column) order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, Field
from scipy import ndimage as ndi

from tools.errors import ToolError
from tools.imaging.volume import Volume

if TYPE_CHECKING:
    import nibabel as nib

Labels3D = NDArray[np.int32]
"""(slice, row, column) labels: 0 background, 1..N structures."""


@dataclass
class VolumeSegmentation:
    """A 3-D backend's answer: a label volume with class names and caveats."""

    labels: Labels3D
    names: dict[int, str]
    method: str
    notes: list[str] = field(default_factory=list)


class VolumeSegmenter(Protocol):
    """A backend that segments named structures in a CT volume."""

    name: str

    def segment_volume(self, volume: Volume) -> VolumeSegmentation:
        """Label the structures of `volume` (same shape as `volume.values`)."""
        ...


class VolumeStructure(BaseModel):
    """One segmented structure of a volume."""

    label: int = Field(description="Value of this structure in the label volume.")
    name: str
    volume_ml: float = Field(description="Volume in millilitres (voxel count × voxel size).")
    voxels: int
    slices: tuple[int, int] = Field(description="First and last slice it appears on (0-based).")
    centroid: tuple[float, float, float] = Field(description="[x, y, slice] in voxels.")


def to_nifti(volume: Volume) -> nib.Nifti1Image:
    """The volume as a NIfTI image: data (column, row, slice), RAS affine, HU as float32."""
    import nibabel as nib

    data = np.ascontiguousarray(volume.values.transpose(2, 1, 0))
    image = nib.Nifti1Image(data, volume.affine_ras())
    image.header.set_xyzt_units("mm")
    return image


def labels_to_nifti(labels: Labels3D, volume: Volume) -> nib.Nifti1Image:
    """A label volume as NIfTI on the grid and affine of `to_nifti(volume)`."""
    import nibabel as nib

    data = np.ascontiguousarray(labels.transpose(2, 1, 0).astype(np.int16))
    return nib.Nifti1Image(data, volume.affine_ras())


def labels_from_nifti(
    image: nib.Nifti1Image,
    shape: tuple[int, int, int],
    affine: NDArray[np.float64] | None = None,
    tolerance_mm: float = 1e-3,
) -> Labels3D:
    """Read a label NIfTI written on the grid of `to_nifti` back as (slice, row, column).

    With `affine` (the input's), a label image placed elsewhere is refused too: some
    tools (TotalSegmentator) only print a warning when their output grid drifts.
    """
    data = np.asarray(image.dataobj)
    labels = np.asarray(data.transpose(2, 1, 0), np.int32)
    if labels.shape != shape:
        raise ToolError(
            f"the segmentation came back on a {labels.shape} grid, the series is {shape}"
        )
    if affine is not None:
        drift = float(np.abs(np.asarray(image.affine) - affine).max())
        if drift > tolerance_mm:
            raise ToolError(
                f"the segmentation came back with an affine {drift:.3g} mm off the series' "
                f"(at most {tolerance_mm:g} allowed): it is not on the series' grid"
            )
    return labels


def voxel_ml(spacing_mm: tuple[float, float, float]) -> float:
    """Volume of one voxel in mL (1 mL = 1000 mm³)."""
    return spacing_mm[0] * spacing_mm[1] * spacing_mm[2] / 1000.0


def measure_volumes(
    seg: VolumeSegmentation, spacing_mm: tuple[float, float, float]
) -> list[VolumeStructure]:
    """Measure every non-empty label of `seg`, in label order."""
    labels = seg.labels
    n = int(labels.max()) if labels.size else 0
    if n == 0:
        return []
    counts = np.bincount(labels.ravel(), minlength=n + 1)
    boxes = ndi.find_objects(labels)
    per_voxel = voxel_ml(spacing_mm)
    out = []
    for label in (i for i in range(1, n + 1) if counts[i] > 0):
        box = boxes[label - 1]
        assert box is not None
        zs, ys, xs = np.nonzero(labels[box] == label)
        out.append(
            VolumeStructure(
                label=label,
                name=seg.names.get(label, f"structure {label}"),
                volume_ml=round(float(counts[label]) * per_voxel, 2),
                voxels=int(counts[label]),
                slices=(box[0].start, box[0].stop - 1),
                centroid=(
                    round(float(xs.mean()) + box[2].start, 1),
                    round(float(ys.mean()) + box[1].start, 1),
                    round(float(zs.mean()) + box[0].start, 1),
                ),
            )
        )
    return out
