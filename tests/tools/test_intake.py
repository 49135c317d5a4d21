"""An upload's kind and facts are decided once; what will be shown is decoded at upload."""

from __future__ import annotations

import io
import logging
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image
from pydicom.uid import ExplicitVRLittleEndian, RLELossless

from tests.conftest import make_attachment
from tests.tools.imaging.factory import PHI_VALUES, ct_phantom, make_dataset, write
from tests.tools.imaging.test_series_archive import ZS, _series_zip
from tools.attachments import Attachment, AttachmentKind, ImageClass, ImageFacts
from tools.errors import InputError, UploadRejectedError
from tools.imaging.archive import SERIES_MEDIA_TYPE
from tools.imaging.render import render_png
from tools.imaging.wsi_archive import WSI_ARCHIVE_MEDIA_TYPE
from tools.intake import detect_kind, inspect_stored, inspect_upload, preview_png, view_png
from tools.settings import UploadSettings
from tools.slides.synthetic import write_dicom_wsi, write_slide

LIMITS = UploadSettings(max_bytes=5_000_000, max_slide_bytes=50_000_000)


def _ct(tmp_path: Path, name: str = "Quixote_Dulcinea_ct.dcm", **options: object) -> Path:
    return write(make_dataset(ct_phantom(), **options), tmp_path / name, ExplicitVRLittleEndian)  # type: ignore[arg-type]


def _attachment(path: Path, image_id: str = "img1") -> Attachment:
    found = inspect_upload(path, path.name, LIMITS)
    att = make_attachment(path, image_id)
    return Attachment(att.id, att.path, att.name, found.media_type, att.sha256,
                      att.size_bytes, found.kind, found.facts)  # fmt: skip


def test_kind_and_facts_of_each_kind(tmp_path: Path, gradient_png: Path) -> None:
    png = inspect_upload(gradient_png, "chest.png", LIMITS)
    assert (png.media_type, png.kind) == ("image/png", AttachmentKind.IMAGE)
    assert png.facts == ImageFacts(width=64, height=48, frames=1, default_frame=0)

    ct = inspect_upload(_ct(tmp_path), "ct.dcm", LIMITS)
    assert (ct.media_type, ct.kind) == ("application/dicom", AttachmentKind.DICOM)
    assert (ct.facts.width, ct.facts.height, ct.facts.modality) == (40, 48, "CT")
    assert ct.facts.spacing_known and ct.facts.frames == 1
    no_spacing = inspect_upload(_ct(tmp_path, "b.dcm", spacing=None), "b.dcm", LIMITS)
    assert not no_spacing.facts.spacing_known

    frames = np.stack([ct_phantom()] * 3)
    multi = write(make_dataset(frames, frames=3), tmp_path / "mf.dcm", RLELossless)
    assert inspect_upload(multi, "mf.dcm", LIMITS).facts.frames == 3

    series = inspect_upload(_series_zip(tmp_path), "study.zip", LIMITS)
    assert (series.media_type, series.kind) == (SERIES_MEDIA_TYPE, AttachmentKind.SERIES)
    assert (series.facts.frames, series.facts.default_frame) == (len(ZS), len(ZS) // 2)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no scratch


def test_slides_are_decided_at_upload_and_never_decoded_whole(tmp_path: Path) -> None:
    base = np.full((768, 1024, 3), 255, np.uint8)
    base[100:300, 600:800] = (200, 30, 30)
    write_slide(tmp_path / "s.svs", base, layout="aperio", compression="jpeg", power=20)
    slide = inspect_upload(tmp_path / "s.svs", "s.svs", LIMITS)
    assert (slide.media_type, slide.kind) == ("image/tiff", AttachmentKind.SLIDE)
    assert (slide.facts.width, slide.facts.height, slide.facts.spacing_known) == (1024, 768, True)

    write_dicom_wsi(tmp_path / "wsi", base, levels=3, power=20, patient_name="Doe^Jane")
    archive = tmp_path / "Doe_Jane.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for level in sorted((tmp_path / "wsi").glob("level-*.dcm")):
            zf.write(level, f"Doe_Jane/{level.name}")
    zipped = inspect_upload(archive, archive.name, LIMITS)
    assert (zipped.media_type, zipped.kind) == (
        WSI_ARCHIVE_MEDIA_TYPE,
        AttachmentKind.SLIDE_ARCHIVE,
    )
    assert (zipped.facts.width, zipped.facts.height, zipped.facts.modality) == (1024, 768, "SM")
    assert not (tmp_path / "Doe_Jane.zip.d").exists()  # checked in scratch space, not beside it
    # the stored file, read again (rows of older versions): the same decision
    assert detect_kind(archive) is AttachmentKind.SLIDE_ARCHIVE
    assert inspect_stored(tmp_path / "s.svs").kind is AttachmentKind.SLIDE


def test_truncated_dicom_is_refused_in_plain_words(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Pixel data cut short passes the header checks; decoding the shown frame catches it."""
    whole = _ct(tmp_path).read_bytes()
    cut = tmp_path / "Quixote_Dulcinea_cut.dcm"
    cut.write_bytes(whole[: len(whole) - 1500])  # the header is whole, the pixels are not
    with caplog.at_level(logging.INFO), pytest.raises(UploadRejectedError) as info:
        inspect_upload(cut, "scan.dcm", LIMITS)
    message = str(info.value)
    assert message.startswith("scan.dcm: this looks like a DICOM image, but its picture")
    assert "damaged or cut short" in message
    for jargon in ("pydicom", "buffer", "bytes", "Error", str(tmp_path), ".upload", "/"):
        assert jargon not in message, jargon
    for value in PHI_VALUES:
        assert value not in message and value not in caplog.text, value
    assert "scan.dcm" not in caplog.text  # the person's file name is not logged
    assert "does not decode" in caplog.text  # the decoder's own words are in the log
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def test_corrupt_png_is_refused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A PNG whose header is fine but whose compressed pixels are garbage."""
    header = struct.pack(">IIBBBBB", 64, 48, 8, 0, 0, 0, 0)  # 64×48 grayscale, 8 bits
    data = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
    data += _chunk(b"IDAT", b"\x78\x9c" + bytes(range(256)) * 4) + _chunk(b"IEND", b"")
    png = tmp_path / "xray.png"
    png.write_bytes(data)
    with caplog.at_level(logging.INFO), pytest.raises(UploadRejectedError) as info:
        inspect_upload(png, "xray.png", LIMITS)
    assert str(info.value).startswith("xray.png: this looks like an image, but its picture")
    assert "zlib" not in str(info.value) and "does not decode" in caplog.text


def test_classifier_hook_sees_the_shown_pixels(tmp_path: Path) -> None:
    seen: list[tuple[AttachmentKind, tuple[int, ...], int]] = []

    def classify(kind: AttachmentKind, facts: ImageFacts, pixels: NDArray[np.uint8]) -> ImageFacts:
        seen.append((kind, pixels.shape, facts.default_frame))
        return facts.model_copy(
            update={"image_class": ImageClass.CROSS_SECTION, "image_class_by": "header"}
        )

    found = inspect_upload(_series_zip(tmp_path), "s.zip", LIMITS, classify=classify)
    assert seen == [(AttachmentKind.SERIES, (16, 12), 2)]
    assert (found.facts.image_class, found.facts.image_class_by) == (
        ImageClass.CROSS_SECTION,
        "header",
    )


def test_one_preview_path_for_every_kind(tmp_path: Path, gradient_png: Path) -> None:
    archive = _series_zip(tmp_path)
    series = _attachment(archive)
    assert preview_png(series, 256) == render_png(archive, 256, frame=len(ZS) // 2)
    assert preview_png(series, 256, frame=0) == render_png(archive, 256, frame=0)
    _, caption = view_png(series, frame=99)  # clamped to the last slice
    assert caption.startswith(f"frame {len(ZS)} of {len(ZS)}")
    image = _attachment(gradient_png, "img2")
    assert Image.open(io.BytesIO(preview_png(image, 32))).size == (32, 24)

    base = np.full((768, 1024, 3), 255, np.uint8)
    write_slide(tmp_path / "g.tiff", base, layout="generic")
    slide = _attachment(tmp_path / "g.tiff", "img3")
    thumb = Image.open(io.BytesIO(preview_png(slide, 128)))
    assert max(thumb.size) == 128  # the thumbnail, not the decoded slide
    with pytest.raises(InputError, match="navigated"):
        view_png(slide)


def test_stored_files_that_no_longer_decode_keep_their_kind(tmp_path: Path) -> None:
    whole = _ct(tmp_path).read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(whole[: len(whole) - 1500])
    found = inspect_stored(cut, "application/dicom")
    assert (found.kind, found.facts) == (AttachmentKind.DICOM, ImageFacts())


def test_a_failing_classifier_leaves_the_upload_unclassified(
    gradient_png: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(kind: AttachmentKind, facts: ImageFacts, pixels: NDArray[np.uint8]) -> ImageFacts:
        raise RuntimeError("model file missing")

    found = inspect_upload(gradient_png, "a.png", LIMITS, classify=broken)
    assert found.kind is AttachmentKind.IMAGE and found.facts.image_class is None
    assert "classifier failed" in caplog.text
