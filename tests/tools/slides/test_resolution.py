"""Reading at exactly one of level, mpp or magnification, from the best level."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.tools.slides.conftest import RED, RED_BOX
from tools.errors import ToolArgumentError
from tools.slides.opener import open_slide
from tools.slides.resolution import Resolution, read_at, read_downsampled, target_downsample
from tools.slides.types import Region, Units

RED_REGION = Region(x=RED_BOX[0], y=RED_BOX[1], width=RED_BOX[2], height=RED_BOX[3])


@pytest.mark.parametrize(
    ("kwargs", "downsample", "size"),
    [
        ({"level": 1}, 2.0, (100, 100)),
        ({"mpp": 2.0}, 4.0, (50, 50)),
        ({"power": 10}, 2.0, (100, 100)),
        ({"power": 8}, 2.5, (80, 80)),  # between levels: read level 1, resample
        ({"mpp": 0.5}, 1.0, (200, 200)),
    ],
)
def test_resolution_units(slide_dir: Path, kwargs: dict[str, float], downsample: float,
                          size: tuple[int, int]) -> None:
    with open_slide(slide_dir / "aperio.svs") as slide:
        res = Resolution.one_of(**kwargs)  # type: ignore[arg-type]
        assert target_downsample(slide, res) == pytest.approx(downsample)
        crop = read_at(slide, RED_REGION, res)
    assert crop.size == size
    centre = np.asarray(crop)[size[1] // 2, size[0] // 2].astype(int)
    assert np.abs(centre - RED).max() <= 12


def test_best_level_is_used(slide_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_slide(slide_dir / "pyramid.ome.tiff") as slide:
        levels: list[int] = []
        original = slide.read_region

        def spy(location: tuple[int, int], level: int, size: tuple[int, int]):  # type: ignore[no-untyped-def]
            levels.append(level)
            return original(location, level, size)

        monkeypatch.setattr(slide, "read_region", spy)
        read_downsampled(slide, RED_REGION, 2.5)
        read_downsampled(slide, RED_REGION, 4.0)
        read_downsampled(slide, RED_REGION, 1.9)
        read_downsampled(slide, RED_REGION, 16.0)
    assert levels == [1, 2, 0, 2]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one of level, mpp or power.*got none"),
        ({"level": 0, "mpp": 0.5}, "exactly one.*got level, mpp"),
        ({"mpp": -1.0}, "mpp must be positive"),
    ],
)
def test_one_resolution_exactly(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ToolArgumentError, match=message):
        Resolution.one_of(**kwargs)  # type: ignore[arg-type]


def test_resolution_the_slide_cannot_honour(slide_dir: Path) -> None:
    with open_slide(slide_dir / "stripped.tif") as slide:
        with pytest.raises(ToolArgumentError, match="microns per pixel; ask by level or power"):
            target_downsample(slide, Resolution(Units.MPP, 0.5))
        with pytest.raises(ToolArgumentError, match="neither magnification nor"):
            target_downsample(slide, Resolution(Units.POWER, 10))
        with pytest.raises(ToolArgumentError, match=r"level 3 does not exist; levels are 0\.\.0"):
            target_downsample(slide, Resolution(Units.LEVEL, 3))


def test_oversized_request_is_refused(slide_dir: Path) -> None:
    with open_slide(slide_dir / "generic.tiff") as slide:
        huge = Region(x=0, y=0, width=100_000, height=100_000)
        with pytest.raises(ToolArgumentError, match="over the limit"):
            read_downsampled(slide, huge, 1.0)


def test_large_reads_go_in_bounded_bands(slide_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tools.slides import base

    with open_slide(slide_dir / "stripped.tif") as slide:  # one level: zooming out reads level 0
        whole = np.asarray(read_downsampled(slide, Region(x=0, y=0, width=1024, height=768), 4.0))
        monkeypatch.setattr(base, "_WHOLE_LEVEL_PIXELS", 50_000)
        sizes: list[tuple[int, int]] = []
        original = slide.read_region

        def spy(location: tuple[int, int], level: int, size: tuple[int, int]):  # type: ignore[no-untyped-def]
            sizes.append(size)
            return original(location, level, size)

        monkeypatch.setattr(slide, "read_region", spy)
        banded = np.asarray(read_downsampled(slide, Region(x=0, y=0, width=1024, height=768), 4.0))
    assert len(sizes) > 10 and max(w * h for w, h in sizes) <= 50_000
    assert banded.shape == whole.shape == (192, 256, 3)
    assert np.abs(banded.astype(int) - whole.astype(int)).mean() < 4
    assert np.abs(banded[50, 175].astype(int) - RED).max() <= 15  # (700, 200) is red
