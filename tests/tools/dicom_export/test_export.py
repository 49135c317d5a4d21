"""A stored 2-D result placed in a SEG: the frame it analysed, clear refusals otherwise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from tests.tools.imaging.factory import ct_phantom, make_dataset
from tools.dicom_export import SourceImages, export_segmentation
from tools.errors import ToolError


def _series(n: int, frame_of_reference: bool = True) -> SourceImages:
    frame = generate_uid()
    datasets: list[Dataset] = []
    for i in range(n):
        ds = make_dataset(ct_phantom(16, 12), spacing=(0.5, 0.5))
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.ImageOrientationPatient, ds.ImagePositionPatient = [1, 0, 0, 0, 1, 0], [0, 0, 3.0 * i]
        ds.SliceThickness = 3.0
        if frame_of_reference:
            ds.FrameOfReferenceUID = frame
        datasets.append(ds)
    return SourceImages("img1", tuple(datasets), n)


def _result(tmp_path: Path, mask: np.ndarray, **extra: object) -> dict[str, object]:
    (tmp_path / "artifacts").mkdir(exist_ok=True)
    Image.fromarray(mask.astype(np.uint8)).save(tmp_path / "artifacts" / "m.png")
    return {"image_id": "img1", "target": "lung_fields", "backend": "classical",
            "mask_png": "artifacts/m.png",
            "structures": [{"label": 1, "name": "right lung"}, {"label": 2, "name": "left lung"}],
            **extra}  # fmt: skip


def test_frame_named_by_the_result(tmp_path: Path) -> None:
    mask = np.zeros((16, 12), np.uint8)
    mask[2:6, 1:5], mask[8:12, 6:10] = 1, 2
    sources = _series(4)
    out = export_segmentation(_result(tmp_path, mask, frame=2), tmp_path, sources)
    seg = out.seg
    refs = {f.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
            for f in seg.PerFrameFunctionalGroupsSequence}  # fmt: skip
    assert refs == {sources.datasets[2].SOPInstanceUID}
    labels = [str(s.SegmentLabel) for s in seg.SegmentSequence]
    assert labels == ["right lung", "left lung"]
    modifiers = [s.SegmentedPropertyTypeCodeSequence[0]
                 .SegmentedPropertyTypeModifierCodeSequence[0].CodeMeaning
                 for s in seg.SegmentSequence]  # fmt: skip
    assert modifiers == ["Right", "Left"]
    assert out.sr is not None and out.sr_path is not None and out.sr_path.is_file()


def test_refusals(tmp_path: Path) -> None:
    mask = np.zeros((16, 12), np.uint8)
    mask[2:6, 1:5] = 1
    with pytest.raises(ToolError, match="does not say which of the 4 slices"):
        export_segmentation(_result(tmp_path, mask), tmp_path, _series(4))
    with pytest.raises(ToolError, match="outside img1's 4 frames"):
        export_segmentation(_result(tmp_path, mask, frame=4), tmp_path, _series(4))
    with pytest.raises(ToolError, match="no Frame of Reference UID"):
        export_segmentation(_result(tmp_path, mask, frame=0), tmp_path, _series(4, False))
    with pytest.raises(ToolError, match="found nothing"):
        export_segmentation(_result(tmp_path, mask * 0, frame=0), tmp_path, _series(4))
    with pytest.raises(ToolError, match="the mask is 12×8 px but the image is 12×16"):
        export_segmentation(_result(tmp_path, mask[:8]), tmp_path, _series(1))
