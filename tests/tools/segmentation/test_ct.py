"""CT series segmentation up to TotalSegmentator's boundary: NIfTI geometry, mL, tool, errors.

The real TotalSegmentator is not installed in the test environment (see README); its
backend is exercised here only up to the package boundary: configuration, weight
checks and the missing-package message (benchmarks/check_totalsegmentator.py runs it
against the real package with a random tiny checkpoint). The tool path runs with a threshold test
double of the `VolumeSegmenter` protocol, which is not TotalSegmentator.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image
from pydicom.uid import ExplicitVRLittleEndian

from tests.tools.imaging.conftest import tool_context
from tests.tools.imaging.factory import PHI_VALUES, ct_phantom, make_dataset, write
from tests.tools.imaging.test_series_archive import _series_zip
from tools.errors import ToolArgumentError, ToolError
from tools.imaging.archive import SERIES_MEDIA_TYPE
from tools.imaging.volume import Volume, load_volume
from tools.segmentation import tool as segment_tool
from tools.segmentation.config import SegmentationConfig, TotalSegSettings
from tools.segmentation.schema import SegmentArgs
from tools.segmentation.tool import segment
from tools.segmentation.totalseg import (
    FAST_TASKS,
    INSTALL_ADVICE,
    MODEL_FILES,
    TotalSegmentatorSegmenter,
    model_dir,
    weights_dir,
)
from tools.segmentation.types import Target
from tools.segmentation.volumetric import (
    VolumeSegmentation,
    labels_from_nifti,
    measure_volumes,
    to_nifti,
)


class ThresholdDouble:
    """Test double of the VolumeSegmenter protocol: soft tissue 1, bone 2 (by HU)."""

    name = "threshold-double"

    def segment_volume(self, volume: Volume) -> VolumeSegmentation:
        labels = np.zeros(volume.values.shape, np.int32)
        labels[(volume.values > -200) & (volume.values < 300)] = 1
        labels[volume.values >= 300] = 2
        return VolumeSegmentation(labels, {1: "soft tissue", 2: "bone"}, "HU thresholds")


def test_measure_volumes_in_millilitres() -> None:
    labels = np.zeros((4, 10, 10), np.int32)
    labels[1:3, 2:7, 3:5] = 3  # 2 × 5 × 2 = 20 voxels
    seg = VolumeSegmentation(labels, {3: "liver"}, "synthetic")
    (liver,) = measure_volumes(seg, (2.5, 2.0, 4.0))  # 20 mm³ per voxel
    assert (liver.name, liver.voxels, liver.volume_ml) == ("liver", 20, 0.4)
    assert liver.slices == (1, 2) and liver.centroid == (3.5, 4.0, 1.5)


def test_nifti_keeps_grid_spacing_and_orientation(tmp_path: Path) -> None:
    volume = load_volume(_series_zip(tmp_path), "k")
    image = to_nifti(volume)
    assert image.shape == (12, 16, 5)  # column, row, slice
    np.testing.assert_allclose(image.header.get_zooms(), (0.75, 0.5, 2.0))
    assert nib.aff2axcodes(image.affine) == ("L", "P", "S")  # DICOM rows/cols run L→, P→
    # voxel (column 2, row 4, slice 3) is at LPS (-8.5, 22, 6), i.e. RAS (8.5, -22, 6)
    np.testing.assert_allclose(image.affine @ [2, 4, 3, 1], [8.5, -22.0, 6.0, 1.0])
    np.testing.assert_allclose(np.asarray(image.dataobj)[0, 0, :], volume.values[:, 0, 0])
    labels = (volume.values > 0).astype(np.int32)
    back = nib.Nifti1Image(labels.transpose(2, 1, 0).astype(np.int16), image.affine)
    np.testing.assert_array_equal(labels_from_nifti(back, volume.values.shape), labels)
    with pytest.raises(ToolError, match="grid"):
        labels_from_nifti(back, (5, 12, 16))
    shifted = image.affine.copy()
    shifted[2, 3] += 0.5  # half a millimetre along z: still refused
    moved = nib.Nifti1Image(np.asarray(back.dataobj), shifted)
    with pytest.raises(ToolError, match=r"affine 0\.5 mm off.*not on the series' grid"):
        labels_from_nifti(moved, volume.values.shape, affine=image.affine)
    np.testing.assert_array_equal(
        labels_from_nifti(back, volume.values.shape, affine=image.affine), labels
    )


def test_segment_ct_series(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(segment_tool, "volume_segmenter", lambda config: ThresholdDouble())
    ctx = tool_context(tmp_path, _series_zip(tmp_path), media_type=SERIES_MEDIA_TYPE)
    result = segment(SegmentArgs(image_id="img1", target=Target.CT_ORGANS), ctx)
    assert result.backend == "threshold-double" and result.voxel_mm == (2.0, 0.5, 0.75)
    per_voxel_ml = 2.0 * 0.5 * 0.75 / 1000
    volume = load_volume(ctx.attachments["img1"].path, "k")
    bone_voxels = int((volume.values >= 300).sum())
    bone = next(s for s in result.structures if s.name == "bone")
    assert bone.voxels == bone_voxels and bone.volume_ml == round(bone_voxels * per_voxel_ml, 2)
    with Image.open(ctx.session_dir / result.overlay_png) as overlay:
        assert overlay.mode == "RGB" and overlay.size == (12, 16)
    labels = nib.load(ctx.session_dir / result.labels_nifti)
    assert labels.shape == (12, 16, 5) and int(np.asarray(labels.dataobj).max()) == 2
    for value in PHI_VALUES:
        assert value not in result.for_model(), value


def test_ct_organs_needs_a_series(tmp_path: Path) -> None:
    ct_dicom = write(make_dataset(ct_phantom()), tmp_path / "ct.dcm", ExplicitVRLittleEndian)
    ctx = tool_context(tmp_path, ct_dicom)
    with pytest.raises(ToolArgumentError, match="needs a CT series"):
        segment(SegmentArgs(image_id="img1", target=Target.CT_ORGANS), ctx)
    with pytest.raises(ToolArgumentError, match="target 'ct_organs' needs that backend"):
        segment(SegmentArgs(image_id="img1", target=Target.TISSUE, backend="totalsegmentator"), ctx)


def test_totalsegmentator_not_configured_or_weights_missing(tmp_path: Path) -> None:
    with pytest.raises(ToolError, match=r"set totalsegmentator\.home"):
        TotalSegmentatorSegmenter(SegmentationConfig().totalsegmentator)
    with pytest.raises(ToolError, match=r"Dataset297_.*never downloads"):
        TotalSegmentatorSegmenter(TotalSegSettings(home=tmp_path))
    with pytest.raises(ToolError, match=r"Dataset291_.*Dataset295_"):
        TotalSegmentatorSegmenter(TotalSegSettings(home=tmp_path, fast=False))
    # a task folder from another trainer (or half copied): the missing files are named
    other = weights_dir(tmp_path) / FAST_TASKS[0] / "nnUNetTrainer__nnUNetPlans__3d_fullres"
    other.mkdir(parents=True)
    with pytest.raises(ToolError) as info:
        TotalSegmentatorSegmenter(TotalSegSettings(home=tmp_path))
    assert (
        f"{FAST_TASKS[0]}/nnUNetTrainer_4000epochs_NoMirroring__nnUNetPlans__3d_fullres/"
        "fold_0/checkpoint_final.pth" in str(info.value)
    )


def _fake_weights(home: Path) -> None:
    """Empty files where the fast model's files go (enough for the checks before import)."""
    for name in MODEL_FILES:
        path = model_dir(home, FAST_TASKS[0], fast=True) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()


def test_totalsegmentator_not_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_weights(tmp_path)
    monkeypatch.setitem(sys.modules, "totalsegmentator", None)  # import fails as if absent
    with pytest.raises(ToolError) as info:
        TotalSegmentatorSegmenter(TotalSegSettings(home=tmp_path))
    assert str(info.value) == INSTALL_ADVICE and ".[ct]" in INSTALL_ADVICE
