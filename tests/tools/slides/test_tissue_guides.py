"""Tissue detection, crop measurements and axis guides on synthetic images."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from tests.tools.slides.conftest import BLUE_BOX, RED_BOX, base_image
from tools.slides.guides import LEFT, TOP, draw_guides, nice_step
from tools.slides.tissue import measure_crop, suggest_zooms, tissue_mask, tissue_regions
from tools.slides.types import Region


def test_tissue_regions_find_the_squares() -> None:
    thumb = np.asarray(Image.fromarray(base_image()).reduce(4))  # 256×192, scale 4
    regions = tissue_regions(tissue_mask(thumb), scale=4.0, limit=8)
    assert [r.label for r in regions] == ["T1", "T2"]
    for region, (x, y, w, h) in zip(regions, (BLUE_BOX, RED_BOX), strict=True):
        assert abs(region.x - x) <= 8 and abs(region.y - y) <= 8
        assert abs(region.width - w) <= 8 and abs(region.height - h) <= 8
    assert regions[0].area_fraction == 0.6


def test_blank_glass_has_no_tissue() -> None:
    glass = np.full((64, 64, 3), 250, np.uint8)
    assert not tissue_mask(glass).any()
    assert tissue_regions(tissue_mask(glass), 1.0, 8) == []
    m = measure_crop(glass, 0.5)
    assert (m.tissue_fraction, m.nuclei_like_blobs, m.nuclei_per_mm2) == (0.0, 0, 0.0)


def test_nuclei_like_blobs_are_counted() -> None:
    # Pink stroma with 12 purple "nuclei" 8 µm across at 0.5 µm/px (16 px), and 3 big blotches.
    img = Image.new("RGB", (400, 400), (235, 160, 200))
    draw = ImageDraw.Draw(img)
    for i in range(12):
        cx, cy = 30 + (i % 4) * 60, 30 + (i // 4) * 60
        draw.ellipse([cx - 8, cy - 8, cx + 8, cy + 8], fill=(70, 40, 130))
    for i in range(3):
        draw.rectangle([20 + i * 120, 280, 110 + i * 120, 390], fill=(70, 40, 130))
    m = measure_crop(np.asarray(img), um_per_px=0.5)
    assert m.nuclei_like_blobs == 12
    assert m.tissue_fraction == 1.0
    assert m.nuclei_per_mm2 == round(12 / (0.2 * 0.2), 1)
    assert m.hematoxylin_od > 0 and m.mean_rgb[0] > m.mean_rgb[2] - 60


def test_nice_step() -> None:
    assert [nice_step(s) for s in (60, 1024, 3000, 50_000, 7)] == [10, 200, 500, 10_000, 2]


def test_guides_frame_the_image() -> None:
    image = Image.new("RGB", (200, 100), (255, 0, 0))
    out = draw_guides(image, Region(x=1000, y=500, width=400, height=200),
                      [("T1", Region(x=1100, y=550, width=100, height=50))])
    assert out.size == (200 + LEFT, 100 + TOP)
    px = np.asarray(out)
    assert (px[:8, :30] == 255).all()  # blank corner of the margin
    assert px[:TOP, LEFT:].min() < 100  # tick labels printed on the top ruler
    # The T1 box outline is drawn at (1100-1000)/2 = 50 px right of the image's left edge.
    assert tuple(px[TOP + 40, LEFT + 50]) != (255, 0, 0)


def test_suggested_zooms_rank_dark_dense_tissue_first() -> None:
    thumb = np.full((100, 100, 3), 250, np.uint8)
    thumb[:, :50] = (235, 150, 200)  # pale pink tissue on the left half
    thumb[50:75, 25:50] = (90, 50, 140)  # a purple (nuclear-dense) patch
    thumb[0:10, 60:70] = (235, 150, 200)  # a speck: too little tissue in its square
    zooms = suggest_zooms(thumb, tissue_mask(thumb), scale=10.0, cell=250, limit=3)
    assert [(z.label, z.x, z.y, z.width, z.height) for z in zooms] == [
        ("Z1", 250, 500, 250, 250),
        ("Z2", 0, 0, 250, 250),
        ("Z3", 250, 0, 250, 250),
    ]
    assert zooms[0].darkness > 0.4 > zooms[1].darkness and zooms[1].tissue_fraction == 1.0
