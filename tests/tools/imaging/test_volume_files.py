"""NIfTI and NRRD uploads: told by content, oriented, scaled, measured, refused when broken.

Every fixture is written here with nibabel or pynrrd: tiny volumes (24×20×10 voxels, a
sphere on a 48×40×24 grid), some with fake patient details in the header's free text.
"""

from __future__ import annotations

import gzip
import json
import logging
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import nibabel as nib
import nrrd
import numpy as np
import pytest

from tests.conftest import make_attachment
from tests.tools.imaging.conftest import tool_context
from tools.attachments import AttachmentKind
from tools.dicom_export.sources import source_images
from tools.errors import ToolArgumentError, ToolError, UploadRejectedError
from tools.imaging.deid import safe_display_name
from tools.imaging.describe import DescribeImageArgs, describe_image
from tools.imaging.loader import sniff
from tools.imaging.uploads import check_upload
from tools.imaging.view import ViewDicomArgs, view_dicom
from tools.imaging.volume import Volume, load_volume
from tools.imaging.volume_file import read_volume
from tools.imaging.volume_header import NIFTI_MEDIA_TYPE, NRRD_MEDIA_TYPE, volume_format
from tools.intake import detect_kind, inspect_stored, inspect_upload
from tools.segmentation import tool as segment_tool
from tools.segmentation.ct import VolumeSegmentResult
from tools.segmentation.schema import SegmentArgs
from tools.segmentation.tool import segment
from tools.segmentation.types import Target
from tools.segmentation.volumetric import VolumeSegmentation
from tools.settings import UploadSettings

PHI = ("Quixote", "Dulcinea", "4471923")
LIMITS = UploadSettings()


def _grid() -> np.ndarray:
    """24×20×10 (i, j, k) int16: a ramp along k, so slices are told apart by value."""
    data = np.zeros((24, 20, 10), np.int16)
    data += (np.arange(10, dtype=np.int16) * 10)[None, None, :]
    return data


def write_nifti(
    path: Path,
    data: np.ndarray,
    affine: np.ndarray | None = None,
    *,
    two: bool = False,
    **fields: Any,
) -> Path:
    """Write `data` as NIfTI-1 (or -2) with `affine` (default 1 mm RAS) and header fields."""
    kind = nib.Nifti2Image if two else nib.Nifti1Image
    image = kind(data, np.eye(4) if affine is None else affine)
    for name, value in fields.items():
        if name == "slope_inter":
            image.header.set_slope_inter(*value)
        else:
            image.header[name] = value
    nib.save(image, path)
    return path


def write_nrrd(path: Path, data: np.ndarray, **header: Any) -> Path:
    """Write `data` as an attached-data NRRD (gzip by default) with these header fields."""
    fields: dict[str, Any] = {"encoding": "gzip", **header}
    nrrd.write(str(path), data, fields)
    return path


def _ct_nifti(path: Path, **fields: Any) -> Path:
    """A CT-like NIfTI: stored 0..90 with intercept -1024, marked CT in descrip."""
    fields = {"descrip": b"CT abdomen", "slope_inter": (1.0, -1024.0), **fields}
    return write_nifti(path, _grid(), np.diag([0.8, 0.7, 2.5, 1.0]), **fields)


# -- kind by content ---------------------------------------------------------------------


def test_the_kind_is_read_from_content_not_the_name(tmp_path: Path) -> None:
    files = {
        "NIfTI-1": write_nifti(tmp_path / "a.nii", _grid()),
        "NIfTI-2": write_nifti(tmp_path / "b.nii", _grid(), two=True),
        "NRRD": write_nrrd(tmp_path / "c.nrrd", _grid()),
    }
    files["gz"] = write_nifti(tmp_path / "d.nii.gz", _grid())
    for fmt, path in files.items():
        blind = path.rename(tmp_path / f"upload-{fmt}.bin")  # the name says nothing
        assert volume_format(blind) == ("NIfTI-1" if fmt == "gz" else fmt)
        assert sniff(blind) == "volume"
        assert detect_kind(blind) is AttachmentKind.SERIES
        expected = NRRD_MEDIA_TYPE if fmt == "NRRD" else NIFTI_MEDIA_TYPE
        assert check_upload(blind, "upload", LIMITS) == expected
    plain_gzip = tmp_path / "notes.gz"  # gzip of something else stays what it was
    plain_gzip.write_bytes(gzip.compress(b"not a volume" * 100))
    assert volume_format(plain_gzip) is None and sniff(plain_gzip) == "dicom"


# -- geometry ----------------------------------------------------------------------------


def test_a_flipped_affine_gives_inferior_to_superior_slices_and_mm_spacing(
    tmp_path: Path,
) -> None:
    data = _grid()
    data[3, 5, 2] = 999  # a marker voxel
    affine = np.diag([-0.8, 0.7, -2.5, 1.0])  # stored L→ in i, S→I in k (slice 0 on top)
    affine[:3, 3] = [10.0, -20.0, 40.0]
    volume = load_volume(write_nifti(tmp_path / "flip.nii.gz", data, affine), "k")
    assert volume.values.shape == (10, 20, 24)  # (slices, rows, columns)
    assert volume.spacing_mm == pytest.approx((2.5, 0.7, 0.8))
    assert volume.values[0, 0, 0] == 90 and volume.values[-1, 0, 0] == 0  # k reversed
    slice_, row, col = (int(v) for v in np.argwhere(volume.values == 999)[0])
    ras = affine @ [3, 5, 2, 1]
    lps = volume.affine @ [col, row, slice_, 1]
    np.testing.assert_allclose(lps[:3], [-ras[0], -ras[1], ras[2]])
    z = [volume.affine[2] @ [0, 0, k, 1] for k in range(10)]
    assert np.all(np.diff(z) > 0)  # slice 0 is the most inferior, as a sorted series


def test_nrrd_in_lps_and_nifti_in_ras_of_one_volume_read_the_same(tmp_path: Path) -> None:
    data = _grid()
    data[3, 5, 2] = 999
    ras = np.diag([0.8, 0.7, 2.5, 1.0])
    nifti = load_volume(write_nifti(tmp_path / "ras.nii", data, ras), "k")
    # The same voxels as LPS: i runs towards the left, so i and j are reversed in RAS.
    lps_data = data[::-1, ::-1, :]
    directions = np.diag([0.8, 0.7, 2.5])
    origin = [-(23 * 0.8), -(19 * 0.7), 0.0]  # LPS of voxel (0, 0, 0)
    header = {"space": "left-posterior-superior", "space directions": directions,
              "space origin": origin}  # fmt: skip
    nrrd_volume = load_volume(write_nrrd(tmp_path / "lps.nrrd", lps_data, **header), "k")
    np.testing.assert_array_equal(nrrd_volume.values, nifti.values)
    np.testing.assert_allclose(nrrd_volume.affine, nifti.affine, atol=1e-9)
    assert nrrd_volume.spacing_mm == pytest.approx(nifti.spacing_mm)


def test_no_orientation_keeps_stored_axes_with_a_note(tmp_path: Path) -> None:
    path = tmp_path / "bare.nii"
    nib.save(nib.Nifti1Image(_grid(), None), path)  # no affine: qform and sform codes 0
    geometry = read_volume(path).geometry
    assert geometry.shape == (10, 20, 24) and geometry.stored_axes is None
    assert "the header gives no orientation" in geometry.notes


# -- values and units --------------------------------------------------------------------


def test_hounsfield_units_only_with_an_explicit_hint(tmp_path: Path) -> None:
    hinted = tool_context(tmp_path, _ct_nifti(tmp_path / "ct.nii.gz"), media_type=NIFTI_MEDIA_TYPE)
    shown = describe_image(DescribeImageArgs(image_id="img1"), hinted)
    assert (shown.modality, shown.units, shown.frames) == ("CT", "HU", 10)
    assert shown.stats[0].min == shown.stats[0].max == 50 - 1024  # middle slice, scaled
    assert shown.series is not None and shown.series.slices == 10
    assert shown.series.slice_spacing_mm == 2.5 and shown.series.shown_slice == 6
    assert shown.pixel_spacing_mm == (0.7, 0.8)  # not float32's 0.69999999
    lung = view_dicom(ViewDicomArgs(image_id="img1", window="lung", frame=2), hinted)
    assert lung.window_used.startswith("lung") and lung.frame == 2 and lung.units == "HU"

    plain = _ct_nifti(tmp_path / "mr.nii.gz", descrip=b"T1 weighted")
    unhinted = tool_context(tmp_path, plain, media_type=NIFTI_MEDIA_TYPE)
    shown = describe_image(DescribeImageArgs(image_id="img1"), unhinted)
    assert shown.modality is None and shown.units is None
    assert any("value units unknown" in n for n in shown.notes)
    with pytest.raises(ToolArgumentError, match="CT preset in Hounsfield units"):
        view_dicom(ViewDicomArgs(image_id="img1", window="lung"), unhinted)

    nrrd_ct = write_nrrd(tmp_path / "ct.nrrd", _grid(), modality="CT")
    assert read_volume(nrrd_ct).geometry.units == "HU"
    assert read_volume(write_nrrd(tmp_path / "x.nrrd", _grid())).geometry.units is None


# -- a measured volume -------------------------------------------------------------------


class ThresholdDouble:
    """Test double of the VolumeSegmenter protocol: everything above 0 HU is one structure."""

    name = "threshold-double"

    def segment_volume(self, volume: Volume) -> VolumeSegmentation:
        return VolumeSegmentation(
            (volume.values > 0).astype(np.int32), {1: "sphere"}, "HU threshold"
        )


def _sphere(radius_mm: float, spacing: tuple[float, float, float]) -> np.ndarray:
    """(i, j, k) HU: water (40) inside a sphere centred in a 48×40×24 grid, air outside."""
    shape = (48, 40, 24)
    axes = [(np.arange(n) - (n - 1) / 2) * s for n, s in zip(shape, spacing, strict=True)]
    x, y, z = np.meshgrid(*axes, indexing="ij")
    inside = x**2 + y**2 + z**2 <= radius_mm**2
    return np.where(inside, 40, -1000).astype(np.int16)


@pytest.mark.parametrize("fmt", ["nifti", "nrrd"])
def test_a_sphere_of_known_radius_measures_its_volume_in_ml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    spacing, radius = (0.9, 0.8, 2.0), 12.0
    data = _sphere(radius, spacing)
    if fmt == "nifti":
        affine = np.diag([-spacing[0], spacing[1], -spacing[2], 1.0])  # flipped, on purpose
        path = write_nifti(tmp_path / "s.nii.gz", data, affine, intent_name=b"HU")
        media_type = NIFTI_MEDIA_TYPE
    else:
        header = {"space": "RAS", "space directions": np.diag(spacing), "modality": "CT"}
        path, media_type = write_nrrd(tmp_path / "s.nrrd", data, **header), NRRD_MEDIA_TYPE
    monkeypatch.setattr(segment_tool, "volume_segmenter", lambda config: ThresholdDouble())
    ctx = tool_context(tmp_path, path, media_type=media_type)
    result = segment(SegmentArgs(image_id="img1", target=Target.CT_ORGANS), ctx)
    assert isinstance(result, VolumeSegmentResult)
    (sphere,) = result.structures
    voxel_ml = spacing[0] * spacing[1] * spacing[2] / 1000
    assert sphere.voxels == int((data > 0).sum())
    assert sphere.volume_ml == pytest.approx(sphere.voxels * voxel_ml, abs=0.01)
    true_ml = 4 / 3 * np.pi * radius**3 / 1000  # 7.24 mL
    assert sphere.volume_ml == pytest.approx(true_ml, rel=0.03)
    assert result.voxel_mm == pytest.approx((spacing[2], spacing[1], spacing[0]))


# -- broken files and limits -------------------------------------------------------------


def _refused(path: Path, name: str, limits: UploadSettings = LIMITS) -> str:
    with pytest.raises(UploadRejectedError) as info:
        inspect_upload(path, name, limits)
    text = str(info.value)
    assert text.startswith(f"{name}: ") and "Traceback" not in text
    return text


def test_broken_volumes_are_refused_in_plain_words(tmp_path: Path) -> None:
    good = _ct_nifti(tmp_path / "good.nii.gz").read_bytes()
    (tmp_path / "cut.nii.gz").write_bytes(good[: len(good) // 2])
    assert "damaged or cut short" in _refused(tmp_path / "cut.nii.gz", "cut.nii.gz")
    raw = write_nifti(tmp_path / "raw.nii", _grid()).read_bytes()
    (tmp_path / "short.nii").write_bytes(raw[: len(raw) - 100])
    assert "cut short" in _refused(tmp_path / "short.nii", "short.nii")
    nrrd_bytes = write_nrrd(tmp_path / "good.nrrd", _grid()).read_bytes()
    (tmp_path / "cut.nrrd").write_bytes(nrrd_bytes[: len(nrrd_bytes) - 40])
    assert "damaged or cut short" in _refused(tmp_path / "cut.nrrd", "cut.nrrd")
    (tmp_path / "bad.nrrd").write_bytes(b"NRRD0004\ntype: int16\nsizes: 2 x\n\n")
    assert "NRRD header" in _refused(tmp_path / "bad.nrrd", "bad.nrrd")
    four_d = write_nifti(tmp_path / "fmri.nii", np.zeros((4, 4, 3, 5), np.int16))
    assert "holds 5 volumes" in _refused(four_d, "fmri.nii")
    rgb = np.zeros((4, 4, 3), [("R", "u1"), ("G", "u1"), ("B", "u1")])
    assert "grayscale volume" in _refused(write_nifti(tmp_path / "rgb.nii", rgb), "rgb.nii")
    pair = bytearray(raw[:352])
    pair[344:348] = b"ni1\0"
    (tmp_path / "pair.hdr").write_bytes(bytes(pair))
    assert ".hdr/.img pair" in _refused(tmp_path / "pair.hdr", "pair.hdr")
    detached = b"NRRD0004\ntype: int16\ndimension: 3\nsizes: 2 2 2\nencoding: raw\n"
    (tmp_path / "d.nhdr").write_bytes(detached + b"data file: /etc/passwd\n\n")
    assert "detached NRRD header" in _refused(tmp_path / "d.nhdr", "d.nhdr")


def test_compressed_data_is_read_only_as_far_as_the_header_declares(tmp_path: Path) -> None:
    path = write_nrrd(tmp_path / "small.nrrd", np.zeros((4, 4, 2), np.uint8))
    header, _, _ = path.read_bytes().partition(b"\n\n")
    bomb = gzip.compress(bytes(64 * 1024 * 1024))  # 64 MB of zeros behind a 32-voxel header
    (tmp_path / "bomb.nrrd").write_bytes(header + b"\n\n" + bomb)
    volume = read_volume(tmp_path / "bomb.nrrd")
    assert volume.stored_values.shape == (2, 4, 4) and volume.stored_values.nbytes == 32


def test_upload_limits_count_slices_and_voxels(tmp_path: Path) -> None:
    path = write_nifti(tmp_path / "v.nii", _grid())
    assert "10 slices, over the limit of 8" in _refused(path, "v.nii", UploadSettings(max_frames=8))
    small = UploadSettings(max_pixels=4000)
    assert "4,800 voxels, over the limit of 4,000" in _refused(path, "v.nii", small)


# -- patient details ---------------------------------------------------------------------


def test_header_free_text_and_the_file_name_never_surface(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    nifti = _ct_nifti(
        tmp_path / "Quixote_Dulcinea_4471923.nii.gz",
        descrip=b"CT Quixote^Dulcinea MRN 4471923",
        aux_file=b"Quixote.txt",
        db_name=b"Dulcinea",
    )
    header = {"content": "Quixote^Dulcinea", "patient name": "Quixote", "modality": "CT"}
    nrrd_path = write_nrrd(tmp_path / "Dulcinea_4471923.nrrd", _grid(), **header)
    for path, media_type in ((nifti, NIFTI_MEDIA_TYPE), (nrrd_path, NRRD_MEDIA_TYPE)):
        seen = inspect_upload(path, "upload", LIMITS)
        assert seen.media_type == media_type and seen.facts.modality == "CT"
        ctx = tool_context(tmp_path, path, media_type=media_type)
        stored = safe_display_name(path.name, media_type, "k" * 20, keep_stem=False)  # as kept
        ctx = replace(ctx, attachments={"img1": replace(ctx.attachments["img1"], name=stored)})
        described = describe_image(DescribeImageArgs(image_id="img1"), ctx).for_model()
        viewed = view_dicom(ViewDicomArgs(image_id="img1"), ctx).for_model()
        shown = json.dumps([described, viewed, seen.facts.model_dump(), caplog.text])
        assert not any(p in shown for p in PHI), shown
        assert json.loads(described)["file_name"].startswith("volume-")
    name = safe_display_name(nifti.name, NIFTI_MEDIA_TYPE, "k" * 20, keep_stem=False)
    assert name.startswith("volume-") and name.endswith(".nii.gz")
    assert safe_display_name(name, NIFTI_MEDIA_TYPE, "other") == name  # kept once given


def test_a_stored_volume_is_recognised_again_and_is_no_dicom_source(tmp_path: Path) -> None:
    att = make_attachment(_ct_nifti(tmp_path / "ct.nii.gz"))
    assert att.kind is AttachmentKind.SERIES
    assert (att.facts.frames, att.facts.default_frame, att.facts.width) == (10, 5, 24)
    assert att.facts.spacing_known and att.facts.modality == "CT"
    shutil.copy(att.path, tmp_path / "again")  # no suffix at all
    assert detect_kind(tmp_path / "again") is AttachmentKind.SERIES
    assert inspect_stored(tmp_path / "again").media_type == NIFTI_MEDIA_TYPE
    with pytest.raises(ToolError, match="not a DICOM image"):  # DICOM SEG/SR need DICOM
        source_images(replace(att, media_type=NIFTI_MEDIA_TYPE), "k")
