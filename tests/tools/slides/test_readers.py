"""Every reader behind the one Slide interface: metadata, regions, padding, errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile

from tests.tools.slides.conftest import BLUE, HEIGHT, RED, RED_BOX, WIDTH, base_image
from tools.errors import UnreadableImageError
from tools.slides.array_backend import ArraySlide
from tools.slides.base import Slide
from tools.slides.opener import SlideCache, open_slide
from tools.slides.synthetic import write_slide

LAYOUTS = {
    "generic.tiff": "openslide:generic-tiff",
    "aperio.svs": "openslide:aperio",
    "pyramid.ome.tiff": "tifffile:ome",
    "stripped.tif": "tifffile:tiff",
    "dicom-wsi/level-0.dcm": "openslide:dicom",  # OpenSlide finds the other levels beside it
}


@pytest.mark.parametrize(("name", "fmt"), LAYOUTS.items())
def test_layouts_open_with_the_right_reader(slide_dir: Path, name: str, fmt: str) -> None:
    with open_slide(slide_dir / name) as slide:
        assert slide.format == fmt
        assert slide.dimensions == (WIDTH, HEIGHT)
        levels = 1 if name == "stripped.tif" else 3
        assert slide.level_dimensions == ((1024, 768), (512, 384), (256, 192))[:levels]
        assert slide.level_downsamples == (1.0, 2.0, 4.0)[:levels]


@pytest.mark.parametrize("name", LAYOUTS)
def test_regions_hold_the_known_content(slide_dir: Path, name: str) -> None:
    x, y, w, h = RED_BOX
    with open_slide(slide_dir / name) as slide:
        for level in range(slide.level_count):
            ds = slide.level_downsamples[level]
            crop = np.asarray(slide.read_region((x, y), level, (int(w / ds), int(h / ds))))
            centre = crop[crop.shape[0] // 2, crop.shape[1] // 2].astype(int)
            assert np.abs(centre - RED).max() <= 12, (level, centre)
        # The blue square sits at (100, 500); read its top-left neighbourhood at level 0.
        corner = np.asarray(slide.read_region((90, 490), 0, (20, 20)))
        assert corner[0, 0].min() >= 240 and np.abs(corner[15, 15].astype(int) - BLUE).max() <= 12


@pytest.mark.parametrize("name", LAYOUTS)
def test_regions_beyond_the_edge_are_padded(slide_dir: Path, name: str) -> None:
    with open_slide(slide_dir / name) as slide:
        crop = np.asarray(slide.read_region((WIDTH - 50, -30), 0, (100, 100)))
        assert crop.shape == (100, 100, 3)
        assert (crop[:30] == 255).all() and (crop[:, 50:] == 255).all()
        outside = np.asarray(slide.read_region((-500, -500), 0, (10, 10)))
        assert (outside == 255).all()


def test_metadata(slide_dir: Path) -> None:
    with open_slide(slide_dir / "aperio.svs") as slide:
        info = slide.info()
    assert (info.mpp, info.objective_power, info.power_estimated) == (0.5, 20.0, False)
    with open_slide(slide_dir / "pyramid.ome.tiff") as slide:
        info = slide.info()
    assert (info.mpp, info.objective_power, info.power_estimated) == (0.5, 20.0, True)
    with open_slide(slide_dir / "stripped.tif") as slide:
        assert slide.info().mpp is None and slide.info().objective_power is None
    with open_slide(slide_dir / "dicom-wsi" / "level-0.dcm") as slide:
        info = slide.info()
    assert (info.mpp, info.objective_power, info.power_estimated) == (0.5, 20.0, False)


def test_thumbnail_is_bounded_and_keeps_aspect(slide_dir: Path) -> None:
    with open_slide(slide_dir / "generic.tiff") as slide:
        thumb = slide.thumbnail(200)
    assert thumb.size == (200, 150)
    red = np.asarray(thumb)[int(200 * 150 / 768), int(700 * 200 / 1024)].astype(int)
    assert np.abs(red - RED).max() <= 20


def test_array_slide_builds_a_pyramid() -> None:
    big = np.zeros((1024, 2048, 3), np.uint8)
    big[:, 1024:] = 200
    slide = ArraySlide(big, mpp=0.25)
    assert slide.level_dimensions == ((2048, 1024), (512, 256))
    assert slide.best_level_for_downsample(3.9) == 0 and slide.best_level_for_downsample(4) == 1
    low = np.asarray(slide.read_region((1024, 0), 1, (10, 10)))
    assert (low == 200).all() and slide.info().objective_power == 40.0


def test_png_upload_opens_as_array_slide(tmp_path: Path) -> None:
    from PIL import Image

    path = tmp_path / "field.png"
    Image.fromarray(base_image()).save(path)
    with open_slide(path) as slide:
        assert slide.format == "memory:image" and slide.dimensions == (WIDTH, HEIGHT)


def test_non_ascii_filename(slide_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "Schnitt_äöü_切片.svs"
    shutil.copy(slide_dir / "aperio.svs", path)
    with open_slide(path) as slide:
        assert slide.format == "openslide:aperio"
        assert np.asarray(slide.read_region((700, 200), 0, (1, 1)))[0, 0, 0] > 150


def test_garbage_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "noise.svs"
    path.write_bytes(b"\x00\x01 not a slide" * 50)
    with pytest.raises(UnreadableImageError, match=r"noise\.svs.*not a readable image"):
        open_slide(path)
    with pytest.raises(UnreadableImageError, match="no such file"):
        open_slide(tmp_path / "missing.svs")


def test_unknown_compression_is_unopenable(tmp_path: Path) -> None:
    path = write_slide(tmp_path / "unopenable.tiff", base_image()[:128, :128], levels=1,
                       compression="none")
    with tifffile.TiffFile(path, mode="r+") as tif:
        page = tif.pages[0]
        assert isinstance(page, tifffile.TiffPage)
        page.tags["Compression"].overwrite(52479)
    with pytest.raises(UnreadableImageError, match=r"unopenable\.tiff.*52479.*Supported: "):
        open_slide(path)


def test_corrupt_tile_is_unreadable(tmp_path: Path) -> None:
    path = write_slide(tmp_path / "unreadable.svs", base_image()[:64, :64], layout="aperio",
                       levels=1, compression="jpeg")
    with tifffile.TiffFile(path) as tif:
        offset = tif.pages[0].dataoffsets[0]
    data = bytearray(path.read_bytes())
    data[offset + 2 : offset + 40] = b"\xff\xc4\x00\x01" * 9 + b"\x00\x00"  # bogus markers
    path.write_bytes(bytes(data))
    with pytest.raises(UnreadableImageError, match=r"unreadable\.svs: cannot be opened.*OpenSlide"):
        open_slide(path)


def test_cache_reuses_and_reopens(slide_dir: Path, tmp_path: Path) -> None:
    cache = SlideCache(capacity=1)
    path = tmp_path / "a.tiff"
    shutil.copy(slide_dir / "generic.tiff", path)
    first = cache.get(path)
    assert cache.get(path) is first
    first.broken = True
    second = cache.get(path)
    assert second is not first
    cache.get(slide_dir / "pyramid.ome.tiff")  # evicts `second` (closed when unreferenced)
    third = cache.get(path)
    assert isinstance(third, Slide) and third is not second
    assert second.read_region((0, 0), 0, (1, 1)).size == (1, 1)  # still usable by its holder
    cache.clear()
    second.close()
    first.close()


def test_uint16_grayscale_ome_is_scaled_for_display(tmp_path: Path) -> None:
    path = tmp_path / "fluo.ome.tif"
    img = np.full((256, 384), 1000, np.uint16)
    img[64:128, 64:192] = 41000  # a bright block
    with tifffile.TiffWriter(path, ome=True) as tw:
        tw.write(img, tile=(64, 64), subifds=1, metadata={"axes": "YX", "PhysicalSizeX": 0.65},
                 compression="zlib")
        tw.write(img[::2, ::2], tile=(64, 64), subfiletype=1, compression="zlib")
    with open_slide(path) as slide:
        assert slide.format == "tifffile:ome" and slide.level_count == 2
        assert slide.info().mpp == 0.65
        block = np.asarray(slide.read_region((100, 80), 0, (4, 4)))
        background = np.asarray(slide.read_region((300, 200), 1, (4, 4)))
    assert block.dtype == np.uint8 and block.shape == (4, 4, 3)
    assert (block == 255).all() and (background == 0).all()  # stretched to the full range
