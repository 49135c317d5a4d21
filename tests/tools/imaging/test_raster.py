"""PNG, JPEG, TIFF and BMP: bit depths, colour modes, pages, orientation, display."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from tools.errors import InputError, ToolArgumentError
from tools.imaging.reader import load_image
from tools.imaging.render import display_array


def test_png_16_bit_gray(tmp_path: Path) -> None:
    ramp = (np.arange(64, dtype=np.uint16) * 1000).reshape(8, 8)
    path = tmp_path / "a.png"
    Image.fromarray(ramp).save(path)
    image = load_image(path)
    assert (image.source_format, image.pixels.dtype) == ("PNG", np.dtype(np.uint16))
    np.testing.assert_array_equal(image.pixels, ramp)
    shown, used = display_array(image)
    assert used == "full range" and shown.min() == 0 and shown.max() == 255


def test_palette_png_and_bmp_become_rgb_or_gray(tmp_path: Path) -> None:
    pal = Image.new("P", (4, 4))
    pal.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    pal.putpixel((1, 1), 1)
    pal.save(tmp_path / "p.png")
    rgb = load_image(tmp_path / "p.png").pixels
    assert rgb.shape == (4, 4, 3) and rgb[0, 0].tolist() == [255, 0, 0] and rgb[1, 1, 1] == 255
    Image.new("1", (5, 3), 1).save(tmp_path / "b.bmp")
    bmp = load_image(tmp_path / "b.bmp")
    assert (bmp.source_format, bmp.pixels.shape, int(bmp.pixels.max())) == ("BMP", (3, 5), 255)


def test_jpeg_exif_orientation_is_applied(tmp_path: Path) -> None:
    img = Image.new("L", (40, 20), 0)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise for display
    img.save(tmp_path / "r.jpg", exif=exif)
    assert load_image(tmp_path / "r.jpg").pixels.shape == (40, 20)


def test_tiff_16_bit_rgb_planar_and_pages(tmp_path: Path) -> None:
    rgb = np.random.default_rng(0).integers(0, 65535, (3, 10, 12), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "planar.tif", rgb, photometric="rgb", planarconfig="separate")
    image = load_image(tmp_path / "planar.tif")
    assert image.pixels.shape == (10, 12, 3) and image.mode == "RGB"
    np.testing.assert_array_equal(image.pixels[..., 1], rgb[1])
    assert display_array(image)[0].dtype == np.uint8
    pages = np.stack([np.full((4, 4), i, np.uint8) for i in range(3)])
    tifffile.imwrite(tmp_path / "pages.tif", pages, photometric="minisblack")
    second = load_image(tmp_path / "pages.tif", frame=2)
    assert (second.frame_count, int(second.pixels[0, 0])) == (3, 2)
    with pytest.raises(ToolArgumentError, match=r"valid frames are 1\.\.3"):
        load_image(tmp_path / "pages.tif", frame=3)


def test_whole_image_pixel_limit(tmp_path: Path) -> None:
    Image.new("L", (300, 200)).save(tmp_path / "big.png")
    with pytest.raises(InputError, match=r"300×200 = 60,000 pixels exceeds the limit of 1,000"):
        load_image(tmp_path / "big.png", max_pixels=1000)


def test_lzw_tiff_and_gif_through_pillow(tmp_path: Path) -> None:
    """tifffile needs imagecodecs for LZW; the loader falls back to Pillow's libtiff."""
    ramp = np.tile(np.arange(0, 250, 10, dtype=np.uint8), (6, 1))
    Image.fromarray(ramp).save(tmp_path / "lzw.tif", compression="tiff_lzw")
    np.testing.assert_array_equal(load_image(tmp_path / "lzw.tif").pixels, ramp)
    Image.fromarray(ramp).save(tmp_path / "mask.gif")
    gif = load_image(tmp_path / "mask.gif")
    assert gif.source_format == "GIF" and gif.pixels.shape[:2] == (6, 25)
