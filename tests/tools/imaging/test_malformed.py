"""Malformed input gives a clear UnreadableImageError naming the problem, never a hang."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.uid import JPEGBaseline8Bit, RLELossless

from tests.tools.imaging.conftest import MakeDicom
from tests.tools.imaging.factory import pydicom_sample
from tools.errors import UnreadableImageError
from tools.imaging.limits import call_with_timeout
from tools.imaging.reader import load_image


def test_truncated_pixel_data(ct_dicom: Path) -> None:
    data = ct_dicom.read_bytes()
    ct_dicom.write_bytes(data[:-100])
    with pytest.raises(
        UnreadableImageError, match=r"cannot decode the pixel data .*less than expected"
    ):
        load_image(ct_dicom)


def test_bad_vr_is_dropped_with_a_note(ct_dicom: Path) -> None:
    data = ct_dicom.read_bytes()
    at = data.index(b"LO\x04\x00Acme")
    ct_dicom.write_bytes(data[:at] + b"ZZ" + data[at + 2 :])
    image = load_image(ct_dicom)
    assert "Manufacturer" not in image.metadata
    assert any("invalid VR" in note for note in image.notes)
    assert image.pixels.shape == (48, 40)


def test_missing_transfer_syntax_with_unrecognised_codec(make_dicom: MakeDicom) -> None:
    path = make_dicom("rle.dcm", RLELossless)
    ds = dcmread(path)
    del ds.file_meta.TransferSyntaxUID
    ds.save_as(path, implicit_vr=False, little_endian=True)
    with pytest.raises(UnreadableImageError, match="Transfer Syntax UID is missing"):
        load_image(path)


def test_missing_transfer_syntax_with_jpeg_is_recovered(make_dicom: MakeDicom) -> None:
    stored = np.tile(np.arange(0, 256, 8, dtype=np.uint8), (16, 1))
    path = make_dicom("j.dcm", JPEGBaseline8Bit, pixels=stored, intercept=None)
    ds = dcmread(path)
    del ds.file_meta.TransferSyntaxUID
    ds.save_as(path, implicit_vr=False, little_endian=True)
    image = load_image(path)
    assert np.abs(image.pixels.astype(int) - stored).max() <= 8
    assert any("transfer syntax missing" in note for note in image.notes)


def test_corrupt_jpeg_in_dicom(make_dicom: MakeDicom) -> None:
    stored = np.tile(np.arange(0, 256, 8, dtype=np.uint8), (16, 1))
    path = make_dicom("j.dcm", JPEGBaseline8Bit, pixels=stored, intercept=None)
    # A differential (hierarchical) frame marker where a baseline frame should be.
    path.write_bytes(path.read_bytes().replace(b"\xff\xc0", b"\xff\xcf", 1))
    with pytest.raises(UnreadableImageError, match=r"cannot decode the pixel data \(JPEG Baseline"):
        load_image(path)


def test_corrupt_png(gradient_png: Path) -> None:
    data = gradient_png.read_bytes()
    gradient_png.write_bytes(data[: len(data) // 2])
    with pytest.raises(UnreadableImageError, match="not a readable PNG image"):
        load_image(gradient_png)


@pytest.mark.parametrize("content", [b"", b"hello, this is text\n" * 20, bytes(range(256)) * 4])
def test_not_an_image_at_all(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(content)
    with pytest.raises(UnreadableImageError, match="not a DICOM file nor a supported image"):
        load_image(path)


def test_dicom_without_pixels(ct_dicom: Path) -> None:
    ds = dcmread(ct_dicom)
    del ds.PixelData
    ds.save_as(ct_dicom)
    with pytest.raises(UnreadableImageError, match="no pixel data"):
        load_image(ct_dicom)


def test_decoding_time_limit() -> None:
    started = time.perf_counter()
    with pytest.raises(UnreadableImageError, match=r"longer than 0.2 s"):
        call_with_timeout(lambda: time.sleep(3), 0.2, "slow.dcm")
    assert time.perf_counter() - started < 2
    assert call_with_timeout(lambda: 7, 1.0, "fast") == 7
    with pytest.raises(ZeroDivisionError):
        call_with_timeout(lambda: 1 // 0, 1.0, "bug")


def test_warning_capture_never_waits_long_for_a_stuck_decoder() -> None:
    import threading
    import warnings

    from tools.imaging.limits import captured_warnings

    inside, release = threading.Event(), threading.Event()

    def stuck() -> None:
        with captured_warnings():
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=stuck)
    thread.start()
    assert inside.wait(5)
    started = time.perf_counter()
    with captured_warnings(wait_s=0.05) as caught:
        pass
    assert caught == [] and time.perf_counter() - started < 1
    release.set()
    thread.join()
    with captured_warnings() as caught:
        warnings.warn("recorded, not shown", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["recorded, not shown"]


def test_corrupt_jpeg_extended_real_file(tmp_path: Path) -> None:
    """NEMA's NM1_JPLY as published: a 12-bit JPEG whose SOS no decoder accepts."""
    from tests.tools.imaging.conftest import tool_context
    from tools.imaging.describe import DescribeImageArgs, describe_image
    from tools.imaging.render import render_png

    path = pydicom_sample("JPEG-lossy.dcm", tmp_path)
    expected = r"dicom-[0-9a-f]{8}\.dcm: cannot decode the pixel data \(JPEG Extended"
    with pytest.raises(UnreadableImageError, match=expected) as caught:
        load_image(path)
    assert "CompressedSamples" not in str(caught.value)
    with pytest.raises(UnreadableImageError, match=expected):
        render_png(path, 256)
    named = r"img1 \(dicom-[0-9a-f]{8}\.dcm\): cannot decode"  # as the chat names it
    with pytest.raises(UnreadableImageError, match=named):
        describe_image(DescribeImageArgs(image_id="img1"), tool_context(tmp_path, path))
