"""Measurements, units and the stored mask formats."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tools.segmentation.measure import measure, pixel_area, round_sig
from tools.segmentation.outputs import (
    ASCII,
    legend_font,
    render_overlay,
    rle_decode,
    rle_encode,
    save_mask_png,
    save_rle_json,
)
from tools.segmentation.types import Segmentation


def _read(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img)


def _two_rectangles() -> Segmentation:
    labels = np.zeros((40, 50), np.int32)
    labels[5:15, 10:30] = 1  # 10 rows × 20 cols = 200 px
    labels[20:36, 40:44] = 2  # 16 × 4 = 64 px
    return Segmentation(labels, {1: "right lung", 2: "left lung"}, "test")


@pytest.mark.parametrize(
    ("spacing", "mpp", "factor", "unit"),
    [((0.5, 0.25), None, 0.125, "mm²"), (None, 0.5, 0.25, "µm²"), (None, None, 1.0, "px"),
     ((0.2, 0.2), 0.5, 0.04000000000000001, "mm²")],
)  # fmt: skip
def test_pixel_area_units(
    spacing: tuple[float, float] | None, mpp: float | None, factor: float, unit: str
) -> None:
    assert pixel_area(spacing, mpp) == (factor, unit)


def test_measure_exact_areas_boxes_centroids() -> None:
    structures = measure(_two_rectangles(), (0.5, 0.25), None)
    first, second = structures
    assert (first.name, first.area_px, first.area.value, first.area.unit) == (
        "right lung",
        200,
        25.0,
        "mm²",
    )
    assert first.bbox.corners == (10, 5, 30, 15)
    assert first.centroid == (19.5, 9.5)
    assert (second.name, second.area_px, second.area.value) == ("left lung", 64, 8.0)
    assert second.bbox.corners == (40, 20, 44, 36)


def test_measure_instances_in_micrometres_and_skips_missing_labels() -> None:
    labels = np.zeros((20, 20), np.int32)
    labels[0:3, 0:3] = 1
    labels[10:12, 10:15] = 3  # label 2 absent
    seg = Segmentation(labels, {0: "nucleus"}, "test", instances=True)
    structures = measure(seg, None, 0.5)
    assert [(s.label, s.name, s.area.value, s.area.unit) for s in structures] == [
        (1, "nucleus 1", 2.25, "µm²"),
        (3, "nucleus 3", 2.5, "µm²"),
    ]
    assert measure(Segmentation(np.zeros((4, 4), np.int32), {}, "none"), None, None) == []


def test_round_sig() -> None:
    assert round_sig(123456.7) == 123457.0
    assert round_sig(12.34567) == 12.35
    assert round_sig(0.00123456) == 0.001235
    assert round_sig(0.0) == 0.0


def test_rle_round_trip_and_coco_convention() -> None:
    mask = np.array([[0, 1, 1], [0, 1, 0]], bool)
    # Column-major: col0 = 0,0; col1 = 1,1; col2 = 1,0 -> runs 2 zeros, 3 ones, 1 zero.
    assert rle_encode(mask) == [2, 3, 1]
    assert rle_encode(np.ones((2, 2), bool)) == [0, 4]
    rng = np.random.default_rng(0)
    noisy = rng.random((31, 17)) > 0.6
    assert np.array_equal(rle_decode(rle_encode(noisy), noisy.shape), noisy)
    with pytest.raises(ValueError, match="needs 6"):
        rle_decode([2, 3], (2, 3))


def test_mask_png_and_rle_files(tmp_path: Path) -> None:
    seg = _two_rectangles()
    save_mask_png(seg.labels, tmp_path / "m.png")
    back = _read(tmp_path / "m.png")
    assert back.dtype == np.uint8 and np.array_equal(back, seg.labels)
    many = np.arange(300 * 4, dtype=np.int32).reshape(30, 40) % 300
    save_mask_png(many, tmp_path / "many.png")
    assert np.array_equal(_read(tmp_path / "many.png").astype(np.int32), many)
    save_rle_json(seg.labels, measure(seg, None, None), tmp_path / "m.json")
    doc = json.loads((tmp_path / "m.json").read_text())
    assert doc["size"] == [40, 50]
    left = next(s for s in doc["structures"] if s["name"] == "left lung")
    assert np.array_equal(rle_decode(left["counts"], (40, 50)), seg.labels == 2)


def test_legend_font_falls_back_to_ascii(monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import ImageFont

    real = ImageFont.truetype

    def no_dejavu(font: object, *args: Any, **kw: Any) -> ImageFont.FreeTypeFont:
        if font == "DejaVuSans.ttf":
            raise OSError("cannot open resource")
        return real(font, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(ImageFont, "truetype", no_dejavu)
    font, unicode_ok = legend_font(12)
    assert not unicode_ok and isinstance(font, ImageFont.FreeTypeFont)
    assert "3 nuclei: 2 µm², 2×".translate(ASCII) == "3 nuclei: 2 um2, 2x"
    gray = np.zeros((40, 50), np.uint8)
    render_overlay(gray, np.zeros((40, 50), np.int32), [("3 nuclei: 2 µm²", (1, 2, 3))], True)


def test_overlay_has_colours_and_legend() -> None:
    seg = _two_rectangles()
    gray = np.full((40, 50), 100, np.uint8)
    out = np.asarray(
        render_overlay(gray, seg.labels, [("right lung: 200 px", (0, 200, 255))], False)
    )
    assert out.shape == (40, 50, 3)
    assert not np.array_equal(out[10, 20], [100, 100, 100])  # tinted inside structure 1
    assert np.array_equal(out[38, 2], [100, 100, 100])  # untouched background
    assert np.array_equal(out[6, 6], [0, 0, 0]) or out[4:20, 4:40].min() == 0  # legend box
    big = np.zeros((3000, 1500), np.uint8)
    assert render_overlay(
        big, np.zeros((3000, 1500), np.int32), [("x", (1, 2, 3))], False
    ).size == (512, 1024)
