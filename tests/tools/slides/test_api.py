"""The package's public helpers, the Deep Zoom adapter and the synthetic generators."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.tools.slides.conftest import HEIGHT, RED, WIDTH, base_image
from tools.attachments import AttachmentKind
from tools.errors import UploadRejectedError
from tools.slides import SlideCache, TileServer, is_slide, open_slide, thumbnail_png
from tools.slides import base as slide_base
from tools.slides.array_backend import ArraySlide
from tools.slides.synthetic import tiled_jpeg_slide


def test_is_slide(slide_dir: Path, tmp_path: Path, gradient_png: Path) -> None:
    assert is_slide(slide_dir / "aperio.svs") and is_slide(slide_dir / "generic.tiff")
    assert is_slide(slide_dir / "pyramid.ome.tiff")
    assert is_slide(slide_dir / "dicom-wsi" / "level-0.dcm")
    assert not is_slide(slide_dir / "stripped.tif")  # small flat TIFF: an ordinary image
    assert not is_slide(gradient_png)
    junk = tmp_path / "junk.svs"
    junk.write_bytes(b"junk")
    assert not is_slide(junk)


def test_thumbnail_png(slide_dir: Path) -> None:
    png = Image.open(io.BytesIO(thumbnail_png(slide_dir / "aperio.svs", 128)))
    assert png.format == "PNG" and png.size == (128, 96)


def test_banded_thumbnail_matches_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    slide = ArraySlide(base_image())
    whole = np.asarray(slide.thumbnail(100)).astype(int)
    monkeypatch.setattr(slide_base, "_WHOLE_LEVEL_PIXELS", 20_000)  # force bands
    banded = np.asarray(slide.thumbnail(100)).astype(int)
    assert banded.shape == whole.shape == (75, 100, 3)
    assert np.abs(banded - whole).mean() < 8  # BOX vs LANCZOS differ at the edges only


@pytest.mark.parametrize("name", ["pyramid.ome.tiff", "stripped.tif"])
def test_deep_zoom_over_the_tifffile_reader(slide_dir: Path, name: str) -> None:
    server = TileServer(SlideCache())
    try:
        assert f'Width="{WIDTH}" Height="{HEIGHT}"' in server.dzi(slide_dir / name)
        # Deep Zoom level 10 is full resolution: tile (2, 0) spans x 507..762, y 0..254
        # (one pixel of overlap on each inner side).
        tile = np.asarray(Image.open(io.BytesIO(server.tile(slide_dir / name, 10, 2, 0))))
        assert tile.shape == (255, 256, 3)
        assert np.abs(tile[200, 200].astype(int) - RED).max() <= 15  # (707, 200) is red
        assert tile[50, 50].min() >= 235  # (557, 50) is glass
        with pytest.raises(ValueError, match="Invalid address"):
            server.tile(slide_dir / name, 10, 99, 0)
    finally:
        server.slides.clear()


def test_tiled_jpeg_slide_repeats_its_block(tmp_path: Path) -> None:
    block = np.full((128, 128, 3), 255, np.uint8)
    block[32:96, 32:96] = RED
    path = tiled_jpeg_slide(tmp_path / "big.tiff", block, (6, 4), levels=3, tile=64)
    with open_slide(path) as slide:
        assert slide.format == "openslide:generic-tiff"
        assert slide.level_dimensions == ((768, 512), (384, 256), (192, 128))
        assert slide.info().mpp == 0.25
        for cx, cy in ((64, 64), (128 * 5 + 64, 128 * 3 + 64)):
            centre = np.asarray(slide.read_region((cx, cy), 0, (1, 1)))[0, 0].astype(int)
            assert np.abs(centre - RED).max() <= 20
        assert np.asarray(slide.read_region((128 * 2 + 5, 5), 0, (1, 1))).min() >= 230
        low = np.asarray(slide.read_region((64, 64), 2, (1, 1)))[0, 0].astype(int)
        assert np.abs(low - RED).max() <= 25


def test_coarse_tiles_of_a_one_level_slide_are_read_shrunk(
    slide_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tools.slides import base

    monkeypatch.setattr(base, "_WHOLE_LEVEL_PIXELS", 300 * 300)
    server = TileServer(SlideCache())
    try:
        path = slide_dir / "stripped.tif"  # one level, 1024×768
        calls: list[tuple[int, int]] = []
        slide = server.slides.get(path)
        original = slide.read_region

        def spy(location: tuple[int, int], level: int, size: tuple[int, int]):  # type: ignore[no-untyped-def]
            calls.append(size)
            return original(location, level, size)

        monkeypatch.setattr(slide, "read_region", spy)
        # Deep Zoom level 8 is the slide at 1/4 (256×192): tile (0, 0) is 254 + 1 overlap wide.
        tile = np.asarray(Image.open(io.BytesIO(server.tile(path, 8, 0, 0))))
        assert tile.shape == (192, 255, 3)
        assert max(w * h for w, h in calls) <= 300 * 300 and len(calls) > 1
        assert np.abs(tile[50, 175].astype(int) - RED).max() <= 20  # (700, 200) is red
    finally:
        server.slides.clear()


def test_dicom_wsi_levels_uploaded_to_a_session_open_as_one_pyramid(
    slide_dir: Path, tmp_path: Path
) -> None:
    """Each level of a DICOM-WSI is its own file; uploaded to one session they are stored side
    by side (under hashed names), where OpenSlide finds the whole pyramid from any of them."""
    from functools import partial

    from assistant.sessions import SessionStore
    from tools.intake import inspect_upload
    from tools.settings import UploadSettings

    store = SessionStore(tmp_path / "data", partial(inspect_upload, limits=UploadSettings()))
    session = store.create().id
    levels = sorted((slide_dir / "dicom-wsi").glob("level-*.dcm"))
    attachments = [store.add_upload(session, path) for path in levels]
    assert [a.media_type for a in attachments] == ["application/dicom"] * 3
    assert all(a.path.name != p.name for a, p in zip(attachments, levels, strict=True))
    assert is_slide(attachments[0].path)
    assert {a.kind for a in attachments} == {AttachmentKind.SLIDE}
    with open_slide(attachments[0].path) as slide:
        assert slide.format == "openslide:dicom"
        assert slide.level_dimensions == ((1024, 768), (512, 384), (256, 192))


def test_a_zip_of_dicom_wsi_levels_is_one_slide_attachment(slide_dir: Path, tmp_path: Path) -> None:
    """Zipped (as a folder export usually is), the levels, a label image and a stray file
    become one slide attachment: safe name, the slide limit, navigable as one pyramid."""
    import zipfile
    from functools import partial

    from assistant.sessions import SessionStore
    from tools.imaging.deid import safe_display_name
    from tools.imaging.uploads import check_upload
    from tools.imaging.wsi_archive import WSI_ARCHIVE_MEDIA_TYPE
    from tools.intake import inspect_upload
    from tools.settings import UploadSettings

    archive = tmp_path / "Doe_Jane_biopsy.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for level in sorted((slide_dir / "dicom-wsi").glob("level-*.dcm"), reverse=True):
            zf.write(level, f"Doe_Jane/{level.name}")
        zf.writestr("Doe_Jane/README.txt", "scanner export")
    limits = UploadSettings(max_bytes=1_000, max_slide_bytes=10_000_000)  # the slide limit applies
    assert check_upload(archive, archive.name, limits) == WSI_ARCHIVE_MEDIA_TYPE
    store = SessionStore(
        tmp_path / "data",
        partial(inspect_upload, limits=limits),
        lambda sid, name, media_type, modality: safe_display_name(
            name, media_type, sid, modality=modality
        ),
    )
    session = store.create().id
    att = store.add_upload(session, archive)
    assert att.name.startswith("dicom-slide-") and "Doe" not in att.name
    assert is_slide(att.path) and att.kind is AttachmentKind.SLIDE_ARCHIVE
    with open_slide(att.path) as slide:
        assert slide.format == "openslide:dicom"
        assert slide.level_dimensions == ((1024, 768), (512, 384), (256, 192))
        red = np.asarray(slide.read_region((650, 150), 0, (10, 10)))
        assert np.abs(red[5, 5].astype(int) - RED).max() <= 12
    too_small = UploadSettings(max_bytes=1_000, max_slide_bytes=1_000)
    with pytest.raises(UploadRejectedError, match="exceeds the upload limit"):
        check_upload(archive, archive.name, too_small)
