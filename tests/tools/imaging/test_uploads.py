"""Upload checks refuse what breaks a limit, from headers only, and leave nothing behind."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, MediaStorageDirectoryStorage

from tests.tools.imaging.conftest import MakeDicom
from tests.tools.imaging.factory import ct_phantom
from tools.errors import UploadRejectedError
from tools.imaging.uploads import check_upload
from tools.settings import UploadSettings

LIMITS = UploadSettings(
    max_bytes=2_000_000, max_slide_bytes=3_000_000, max_pixels=10_000_000, max_frames=4
)


def _save(tmp_path: Path, name: str, array: np.ndarray) -> Path:
    path = tmp_path / name
    Image.fromarray(array).save(path)
    return path


def test_accepted_types(tmp_path: Path, ct_dicom: Path) -> None:
    gray = np.zeros((20, 30), np.uint8)
    assert check_upload(_save(tmp_path, "a.png", gray), "a.png", LIMITS) == "image/png"
    assert check_upload(_save(tmp_path, "a.jpg", gray), "a.jpg", LIMITS) == "image/jpeg"
    assert check_upload(_save(tmp_path, "a.bmp", gray), "a.bmp", LIMITS) == "image/bmp"
    assert check_upload(_save(tmp_path, "a.gif", gray), "a.gif", LIMITS) == "image/gif"
    tif = tmp_path / "a.tif"
    tifffile.imwrite(tif, np.zeros((20, 30, 3), np.uint16))
    assert check_upload(tif, "a.tif", LIMITS) == "image/tiff"
    assert check_upload(ct_dicom, "x.dcm", LIMITS) == "application/dicom"
    gz = tmp_path / "x.dcm.gz"
    gz.write_bytes(gzip.compress(ct_dicom.read_bytes()))
    assert check_upload(gz, "x.dcm.gz", LIMITS) == "application/dicom"


def test_size_limits(tmp_path: Path) -> None:
    empty = tmp_path / "e.png"
    empty.write_bytes(b"")
    with pytest.raises(UploadRejectedError, match="empty"):
        check_upload(empty, "e.png", LIMITS)
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 2_100_000)
    with pytest.raises(UploadRejectedError, match=r"big.png: .* MB exceeds the upload limit"):
        check_upload(big, "big.png", LIMITS)


def test_tiled_slides_have_their_own_size_limit(tmp_path: Path) -> None:
    """Whole-slide files are read tile by tile, so they may exceed `max_bytes` (not the slide
    limit); a flat image of the same size may not."""
    noise = np.random.default_rng(0).integers(0, 255, (1024, 1024, 3), np.uint8)
    tiled = tmp_path / "slide.tif"
    tifffile.imwrite(tiled, noise[:, :768], tile=(256, 256), photometric="rgb")
    flat = tmp_path / "flat.tif"
    tifffile.imwrite(flat, noise[:, :768], photometric="rgb")
    assert 2_000_000 < tiled.stat().st_size < 3_000_000 and flat.stat().st_size > 2_000_000
    assert check_upload(tiled, "slide.tif", LIMITS) == "image/tiff"
    with pytest.raises(UploadRejectedError, match=r"limit of 1\.9 MB \(tiled whole-slide"):
        check_upload(flat, "flat.tif", LIMITS)
    huge = tmp_path / "huge.tif"
    tifffile.imwrite(huge, noise, tile=(256, 256), photometric="rgb")
    assert huge.stat().st_size > 3_000_000
    with pytest.raises(UploadRejectedError, match=r"huge\.tif: 3\.0 MB exceeds"):
        check_upload(huge, "huge.tif", LIMITS)
    png = tmp_path / "big.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 2_500_000)
    with pytest.raises(UploadRejectedError, match=r"limit of 1\.9 MB$"):
        check_upload(png, "big.png", LIMITS)


def test_decompression_bomb_is_refused_from_the_header(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    Image.new("1", (5000, 5000)).save(bomb)  # 25 M pixels in a few kB
    assert bomb.stat().st_size < 50_000
    with pytest.raises(UploadRejectedError, match=r"25,000,000 pixels exceed the limit of 10,0"):
        check_upload(bomb, "bomb.png", LIMITS)


def test_gzip_bomb(tmp_path: Path) -> None:
    gz = tmp_path / "z.dcm.gz"
    gz.write_bytes(gzip.compress(b"\0" * 3_000_000))
    with pytest.raises(UploadRejectedError, match="inflates beyond the limit"):
        check_upload(gz, "z.dcm.gz", LIMITS)


def test_frame_limits(tmp_path: Path, make_dicom: MakeDicom) -> None:
    frames = np.stack([ct_phantom()] * 5).astype(np.int16)
    with pytest.raises(UploadRejectedError, match="5 frames exceed the limit of 4"):
        check_upload(make_dicom("mf.dcm", pixels=frames, frames=5), "mf.dcm", LIMITS)
    tif = tmp_path / "pages.tif"
    tifffile.imwrite(tif, np.zeros((6, 8, 8), np.uint8))
    with pytest.raises(UploadRejectedError, match="6 frames"):
        check_upload(tif, "pages.tif", LIMITS)


def test_tiled_tiff_is_not_a_bomb(tmp_path: Path) -> None:
    tif = tmp_path / "slide.tif"
    tifffile.imwrite(tif, np.zeros((64, 64), np.uint8), tile=(16, 16))
    small = UploadSettings(max_bytes=1_000_000, max_pixels=100, max_frames=4)
    assert check_upload(tif, "slide.tif", small) == "image/tiff"


def test_unsupported_types(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("patient is fine\n" * 10)
    with pytest.raises(UploadRejectedError, match="supported: DICOM, PNG, JPEG, TIFF, BMP"):
        check_upload(text, "notes.txt", LIMITS)
    archive = tmp_path / "study.zip"
    archive.write_bytes(b"PK\x03\x04" + b"\0" * 200)
    with pytest.raises(UploadRejectedError, match=r"^study\.zip: not a readable ZIP archive"):
        check_upload(archive, "study.zip", LIMITS)


def test_dicomdir_is_refused(tmp_path: Path) -> None:
    ds = Dataset()
    ds.FileSetID = "SET"
    ds.DirectoryRecordSequence = []
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = MediaStorageDirectoryStorage
    ds.file_meta.MediaStorageSOPInstanceUID = UID("1.2.3")
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    path = tmp_path / "DICOMDIR"
    ds.save_as(path, enforce_file_format=True)
    with pytest.raises(UploadRejectedError, match="DICOMDIR is an index"):
        check_upload(path, "DICOMDIR", LIMITS)


def test_dicom_with_a_tiff_preamble_is_dicom(ct_dicom: Path) -> None:
    """Dual-personality files carry a TIFF header in the 128-byte DICOM preamble."""
    data = bytearray(ct_dicom.read_bytes())
    data[:8] = b"II*\x00\x08\x00\x00\x00"
    ct_dicom.write_bytes(bytes(data))
    assert check_upload(ct_dicom, "x.dcm", LIMITS) == "application/dicom"
    from tools.imaging.reader import load_image

    assert load_image(ct_dicom).source_format == "DICOM"


def test_checks_read_headers_only(
    tmp_path: Path, ct_dicom: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No pixel is decoded while checking, so a bomb costs nothing to refuse."""
    from PIL import ImageFile

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("pixels were decoded during an upload check")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)
    monkeypatch.setattr("tools.imaging.dicom.pixel_array", refuse)
    png = tmp_path / "a.png"
    Image.new("L", (30, 20)).save(png)
    assert check_upload(png, "a.png", LIMITS) == "image/png"
    assert check_upload(ct_dicom, "ct.dcm", LIMITS) == "application/dicom"


def test_broken_headers(tmp_path: Path, ct_dicom: Path) -> None:
    head_only = tmp_path / "cut.dcm"
    head_only.write_bytes(ct_dicom.read_bytes()[:300])  # preamble, meta and a torn element
    with pytest.raises(UploadRejectedError, match=r"^cut\.dcm: "):
        check_upload(head_only, "cut.dcm", LIMITS)
