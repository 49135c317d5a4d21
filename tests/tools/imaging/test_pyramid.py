"""Deep-zoom planes of modality values: level sizes, tiles in a window, values at a pixel."""

from __future__ import annotations

import io
from functools import partial

import numpy as np
import pytest
from PIL import Image

from tools.errors import ToolArgumentError
from tools.imaging.image import LoadedImage
from tools.imaging.pyramid import TILE_SIZE, Plane, PlaneCache
from tools.imaging.windowing import Window, apply_window


def _plane(width: int = 1100, height: int = 600) -> Plane:
    hu = (np.arange(width)[None, :] * 3 - 1500 + np.arange(height)[:, None]).astype(np.int16)
    image = LoadedImage(
        hu, "DICOM", "I;16", spacing_mm=(0.5, 0.6), modality="CT", units="HU",
        header_window=Window(40, 400, "file"),
    )  # fmt: skip
    return Plane.of(image)


def _png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def test_levels_follow_deep_zoom() -> None:
    plane = _plane()
    assert plane.max_level == 11  # ceil(log2(1100))
    assert plane.level_size(11) == (1100, 600)
    assert plane.level_size(10) == (550, 300)
    assert plane.level_size(0) == (1, 1)
    assert 'TileSize="512"' in plane.dzi() and 'Width="1100"' in plane.dzi()


def test_full_resolution_tiles_are_the_windowed_stored_values() -> None:
    plane = _plane()
    window = Window(-600, 1500, "lung")
    tile = _png(plane.tile(11, 1, 0, window))
    assert tile.shape == (TILE_SIZE, TILE_SIZE)
    expected = apply_window(plane.values[0:512, 512:1024], window)
    assert np.array_equal(tile, expected)
    edge = _png(plane.tile(11, 2, 1))  # the last column of tiles is narrower
    assert edge.shape == (600 - 512, 1100 - 1024)
    assert np.array_equal(edge, apply_window(plane.values[512:, 1024:], plane.window))
    inverted = _png(plane.tile(11, 1, 0, window, invert=True))
    assert np.array_equal(inverted, 255 - expected)
    with pytest.raises(ToolArgumentError):
        plane.tile(11, 3, 0)
    with pytest.raises(ToolArgumentError):
        plane.tile(12, 0, 0)


def test_values_at_pixels_and_outside() -> None:
    plane = _plane()
    assert plane.value_at(10.7, 20.2) == float(plane.values[20, 10]) == 10 * 3 - 1500 + 20
    with pytest.raises(ToolArgumentError, match="outside"):
        plane.value_at(1100, 0)
    assert plane.spacing is not None and plane.spacing.source == "PixelSpacing"


def test_cache_keeps_the_newest_and_drops_by_key() -> None:
    cache = PlaneCache(size=2)
    loads: list[str] = []

    def loader(name: str) -> Plane:
        loads.append(name)
        return _plane(8, 8)

    for name in ("a", "b", "a", "c", "a"):
        cache.get(("s1", name), partial(loader, name))
    assert loads == ["a", "b", "c"]  # "a" stayed, being used; "b" went when "c" came
    cache.drop(lambda key: key == ("s1", "a"))
    cache.get(("s1", "a"), partial(loader, "a"))
    assert loads == ["a", "b", "c", "a"]
