"""Every transfer syntax and photometric case decodes to the right modality values."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    JPEG2000,
    UID,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

from tests.tools.imaging.conftest import MakeDicom
from tests.tools.imaging.factory import LOSSLESS, UNCOMPRESSED, ct_phantom, pydicom_sample
from tools.imaging.reader import load_image
from tools.imaging.render import display_array, render_png

HU = ct_phantom().astype(np.int32) - 1024


@pytest.mark.parametrize("syntax", [*UNCOMPRESSED, *LOSSLESS], ids=lambda u: UID(u).keyword)
def test_lossless_syntaxes_give_exact_hounsfield_units(make_dicom: MakeDicom, syntax: UID) -> None:
    path = make_dicom(syntax=syntax)
    assert dcmread(path).file_meta.TransferSyntaxUID == syntax
    image = load_image(path)
    np.testing.assert_array_equal(image.pixels, HU)
    assert (image.modality, image.units, image.spacing_mm) == ("CT", "HU", (0.7, 0.7))
    assert image.window == "from the file (C=40, W=400)"


@pytest.mark.parametrize(
    ("syntax", "tolerance"), [(JPEGLSNearLossless, 2), (JPEG2000, 40)], ids=["jpegls-near", "j2k"]
)
def test_lossy_syntaxes_stay_close(make_dicom: MakeDicom, syntax: UID, tolerance: int) -> None:
    image = load_image(make_dicom(syntax=syntax))
    assert np.abs(image.pixels.astype(np.int64) - HU).max() <= tolerance
    assert np.abs(image.pixels.astype(np.int64) - HU).mean() < tolerance


def test_jpeg_baseline_grayscale(make_dicom: MakeDicom) -> None:
    stored = (ct_phantom() // 8).astype(np.uint8)
    image = load_image(make_dicom(syntax=JPEGBaseline8Bit, pixels=stored, intercept=None))
    assert image.pixels.dtype == np.uint8
    assert np.abs(image.pixels.astype(int) - stored).max() <= 8


def _color(rows: int = 32, cols: int = 24) -> np.ndarray:
    rgb = np.zeros((rows, cols, 3), np.uint8)
    rgb[: rows // 2, :, 0] = 200  # red top half
    rgb[rows // 2 :, :, 2] = 180  # blue bottom half
    return rgb


def test_rgb_uncompressed_and_jpeg_ybr(make_dicom: MakeDicom) -> None:
    rgb = _color()
    plain = load_image(make_dicom("rgb.dcm", pixels=rgb, modality="XC"))
    np.testing.assert_array_equal(plain.pixels, rgb)
    assert plain.mode == "RGB"
    path = make_dicom("ybr.dcm", JPEGBaseline8Bit, pixels=rgb, modality="XC")
    assert dcmread(path).PhotometricInterpretation == "YBR_FULL_422"
    jpeg = load_image(path)
    assert jpeg.mode == "RGB"
    assert np.abs(jpeg.pixels.astype(int) - rgb).mean() < 6
    assert display_array(jpeg, "lung")[1] is None  # colour: no window


def test_ybr_full_uncompressed_is_converted(tmp_path: Path, make_dicom: MakeDicom) -> None:
    from pydicom.pixels.processing import convert_color_space

    rgb = _color()
    path = make_dicom("ybr_full.dcm", pixels=rgb, modality="XC")
    ds = dcmread(path)
    ds.PixelData = convert_color_space(rgb, "RGB", "YBR_FULL").tobytes()
    ds.PhotometricInterpretation = "YBR_FULL"
    ds.save_as(path)
    assert np.abs(load_image(path).pixels.astype(int) - rgb).max() <= 2


def test_palette_color(make_dicom: MakeDicom) -> None:
    idx = np.tile(np.arange(4, dtype=np.uint8), (8, 2))
    path = make_dicom(
        "pal.dcm", pixels=idx, photometric="PALETTE COLOR", intercept=None, window=None
    )
    ds = dcmread(path)
    lut = np.array([0, 100, 200, 255], np.uint16) * 257  # 16-bit entries
    for i in range(3):  # red, green, blue descriptors (0028,110x) and data (0028,120x)
        ds.add_new(0x00281101 + i, "US", [4, 0, 16])
        ds.add_new(0x00281201 + i, "OW", np.roll(lut, i).astype("<u2").tobytes())
    ds.save_as(path)
    image = load_image(path)
    assert image.pixels.shape == (8, 8, 3) and image.pixels.dtype == np.uint8
    assert image.pixels[0, 1].tolist() == [100, 0, 255]


def test_monochrome1_is_inverted_for_display(make_dicom: MakeDicom) -> None:
    ramp = np.tile(np.arange(0, 256, 4, dtype=np.uint16), (8, 1))
    mono1 = load_image(
        make_dicom(
            "m1.dcm",
            pixels=ramp,
            photometric="MONOCHROME1",
            window=(127.5, 256),
            intercept=None,
            modality="CR",
        )
    )
    mono2 = load_image(
        make_dicom("m2.dcm", pixels=ramp, window=(127.5, 256), intercept=None, modality="CR")
    )
    shown1, _ = display_array(mono1)
    shown2, _ = display_array(mono2)
    np.testing.assert_array_equal(mono1.pixels, mono2.pixels)  # values are not touched
    np.testing.assert_array_equal(shown1, 255 - shown2)
    assert shown2[0, 0] == 0 and shown2[0, -1] >= 250


def test_rescale_slope_gives_floats(make_dicom: MakeDicom) -> None:
    path = make_dicom("slope.dcm")
    ds = dcmread(path)
    ds.RescaleSlope, ds.RescaleIntercept = 0.5, -10
    ds.save_as(path)
    image = load_image(path)
    assert image.pixels.dtype == np.float32
    np.testing.assert_allclose(np.asarray(image.pixels, np.float64), ct_phantom() * 0.5 - 10)


def test_multiframe_selection(make_dicom: MakeDicom) -> None:
    frames = np.stack([ct_phantom() + 100 * i for i in range(3)]).astype(np.int16)
    path = make_dicom("mf.dcm", pixels=frames, frames=3)
    for i in range(3):
        image = load_image(path, frame=i)
        assert (image.frame_index, image.frame_count) == (i, 3)
        np.testing.assert_array_equal(image.pixels, HU + 100 * i)


def test_enhanced_functional_groups(make_dicom: MakeDicom) -> None:
    frames = np.stack([ct_phantom(), ct_phantom()]).astype(np.int16)
    path = make_dicom("enh.dcm", pixels=frames, frames=2, intercept=None, window=None, spacing=None)
    ds = dcmread(path)
    shared = Dataset()
    shared.PixelMeasuresSequence = [Dataset()]
    shared.PixelMeasuresSequence[0].PixelSpacing = [0.4, 0.5]
    shared.PixelValueTransformationSequence = [Dataset()]
    shared.PixelValueTransformationSequence[0].RescaleIntercept = -1024
    shared.PixelValueTransformationSequence[0].RescaleSlope = 1
    per_frame = []
    for center in (40, -600):
        item = Dataset()
        item.FrameVOILUTSequence = [Dataset()]
        item.FrameVOILUTSequence[0].WindowCenter, item.FrameVOILUTSequence[0].WindowWidth = (
            center,
            400,
        )
        per_frame.append(item)
    ds.SharedFunctionalGroupsSequence = [shared]
    ds.PerFrameFunctionalGroupsSequence = per_frame
    ds.save_as(path)
    second = load_image(path, frame=1)
    assert second.spacing_mm == (0.4, 0.5)
    np.testing.assert_array_equal(second.pixels, HU)
    assert second.header_window is not None and second.header_window.center == -600


def test_voi_lut_sequence_is_used(make_dicom: MakeDicom) -> None:
    ramp = np.tile(np.arange(16, dtype=np.uint16), (4, 1))
    path = make_dicom("voi.dcm", pixels=ramp, intercept=None, window=None, modality="DX")
    ds = dcmread(path)
    item = Dataset()
    item.add_new(0x00283002, "US", [16, 0, 8])  # LUT Descriptor
    item.add_new(0x00283006, "US", [255 - 17 * i for i in range(16)])  # reversing LUT Data
    ds.VOILUTSequence = [item]
    ds.save_as(path)
    image = load_image(path)
    shown, used = display_array(image)
    assert used is not None and used.startswith("VOI LUT")
    assert shown[0].tolist() == [255 - 17 * i for i in range(16)]


def test_imager_pixel_spacing_has_a_caveat(make_dicom: MakeDicom) -> None:
    path = make_dicom("dx.dcm", spacing=None, modality="DX")
    ds = dcmread(path)
    ds.ImagerPixelSpacing = [0.2, 0.2]
    ds.EstimatedRadiographicMagnificationFactor = 1.25
    ds.save_as(path)
    image = load_image(path)
    assert image.spacing_mm == pytest.approx((0.16, 0.16))
    assert any("ImagerPixelSpacing" in n and "1.25" in n for n in image.notes)


def test_gzip_wrapped_and_missing_meta(make_dicom: MakeDicom, tmp_path: Path) -> None:
    path = make_dicom()
    gz = tmp_path / "ct.dcm.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    np.testing.assert_array_equal(load_image(gz).pixels, HU)
    ds = dcmread(path)
    ds.file_meta = FileMetaDataset()
    bare = tmp_path / "bare.dcm"
    ds.save_as(bare, enforce_file_format=False, implicit_vr=True, little_endian=True)
    raw = bare.read_bytes()
    bare.write_bytes(raw[raw.index(b"\x08\x00") :])  # no preamble, no file meta
    image = load_image(bare)
    np.testing.assert_array_equal(image.pixels, HU)
    assert any("no DICOM file meta" in n for n in image.notes)


def test_render_png_windows_and_ct_rgb(ct_dicom: Path) -> None:
    from io import BytesIO

    from PIL import Image

    lung = np.asarray(Image.open(BytesIO(render_png(ct_dicom, 256, window="lung"))))
    bone = np.asarray(Image.open(BytesIO(render_png(ct_dicom, 256, window="bone"))))
    assert lung.shape == (48, 40)
    assert lung[24, 20] > 200 and bone[24, 20] < 100  # water: bright in lung, dark in bone
    rgb = np.asarray(Image.open(BytesIO(render_png(ct_dicom, 16, ct_windows_rgb=True))))
    assert rgb.shape[2] == 3 and max(rgb.shape[:2]) == 16


def test_render_cache_follows_file_changes(make_dicom: MakeDicom) -> None:
    path = make_dicom("cached.dcm")
    first = render_png(path, 64)
    assert render_png(path, 64) is first  # same file, same arguments: served from the cache
    ds = dcmread(path)
    ds.WindowCenter = 700  # the file changes: size/mtime change, so it is rendered again
    ds.save_as(path)
    assert render_png(path, 64) != first


@pytest.mark.parametrize(
    "syntax", [RLELossless, JPEGLSLossless, JPEG2000Lossless], ids=lambda u: UID(u).keyword
)
def test_colour_through_lossless_codecs(make_dicom: MakeDicom, syntax: UID) -> None:
    rgb = _color(64, 64)  # OpenJPEG's default 6 resolution levels need ≥ 32 px a side
    image = load_image(make_dicom("c.dcm", syntax, pixels=rgb, modality="XC"))
    assert image.mode == "RGB"
    np.testing.assert_array_equal(image.pixels, rgb)


def test_render_view_for_the_ui(ct_dicom: Path) -> None:
    from tools.imaging.render import render_view

    png, caption = render_view(ct_dicom, window="bone")
    assert png.startswith(b"\x89PNG") and caption == "frame 1 of 1, bone (C=400, W=1800)"


def test_jpeg_extended_12bit_real_file(tmp_path: Path) -> None:
    """A real 12-bit JPEG Extended (Process 4) NM image, as NEMA published it (fixed SOS)."""
    from io import BytesIO

    from PIL import Image

    from tests.tools.imaging.conftest import tool_context
    from tools.imaging.describe import DescribeImageArgs, describe_image

    path = pydicom_sample("JPGExtended.dcm", tmp_path)
    assert dcmread(path).file_meta.TransferSyntaxUID == JPEGExtended12Bit
    image = load_image(path)
    assert image.pixels.shape == (1024, 256) and image.pixels.dtype == np.uint16
    assert (image.pixels[420, 140], image.pixels[230, 120]) == (244, 95)  # pydicom's reference
    assert int(image.pixels.max()) < 4096  # 12 bits stored
    # Independent check: NEMA's JPEG 2000 encoding of the same NM1 image, decoded by OpenJPEG.
    j2k = load_image(pydicom_sample("JPEG2000.dcm", tmp_path)).pixels
    assert np.corrcoef(image.pixels.ravel(), j2k.ravel())[0, 1] > 0.9
    assert (image.modality, image.units, image.spacing_mm) == ("NM", None, (2.26, 2.26))
    assert any("secondary capture" in note for note in image.notes)  # SC: burned-in warning

    shown, used = display_array(image)
    assert shown.dtype == np.uint8 and used is not None and used.startswith("auto (percentiles)")
    assert shown.max() == 255 and shown.min() == 0
    png = np.asarray(Image.open(BytesIO(render_png(path, 256))))
    assert png.shape == (256, 64)

    result = describe_image(DescribeImageArgs(image_id="img1"), tool_context(tmp_path, path))
    assert (result.format, result.modality, result.body_part) == ("DICOM", "NM", "WHOLE BODY")
    assert (result.width_px, result.height_px, result.dtype) == (256, 1024, "uint16")
    assert result.header["SOPClassUID"] == "Secondary Capture Image Storage"
    text = result.for_model()
    for raw in ("CompressedSamples", "8NM1", "20040826", "St. John", "1.3.6.1.4.1.5962.1"):
        assert raw not in text, raw  # the file's own identifying values are de-identified


def test_pixels_without_metadata_are_the_same(ct_dicom: Path) -> None:
    full = load_image(ct_dicom)
    bare = load_image(ct_dicom, with_metadata=False)  # what the renderer asks for
    np.testing.assert_array_equal(bare.pixels, full.pixels)
    assert (bare.window, bare.spacing_mm, bare.units) == (full.window, full.spacing_mm, full.units)
    assert full.metadata["Modality"] == "CT" and bare.metadata == {} and bare.body_part is None
