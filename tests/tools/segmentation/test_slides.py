"""Segmenting whole-slide images: a level-0 box at full resolution, or tissue on a thumbnail."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import make_attachment
from tests.tools.segmentation.synthetic import NUCLEUS_CENTRES, he_tile, nuclei_mask
from tools.errors import ToolArgumentError, ToolError
from tools.geometry import Box
from tools.registry import ToolContext
from tools.segmentation import source
from tools.segmentation.config import SegmentationConfig
from tools.segmentation.schema import SegmentArgs
from tools.segmentation.tool import segment
from tools.slides.synthetic import tiled_jpeg_slide

BLOCK = 256


@pytest.fixture(scope="module")
def slide(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1024² pyramidal H&E-like slide at 0.25 µm/px: the 256² block repeated 4×4."""
    block = np.full((BLOCK, BLOCK, 3), (245, 245, 245), np.uint8)  # glass
    block[:128, :140] = he_tile(nuclei_mask())  # tissue with 6 nuclei in each block
    path = tmp_path_factory.mktemp("slide") / "he.tiff"
    return tiled_jpeg_slide(path, block, (4, 4), levels=2, mpp=0.25)


def _ctx(tmp_path: Path, path: Path) -> ToolContext:
    return ToolContext("s1", tmp_path / "session", {"img1": make_attachment(path)})


def _args(**kw: object) -> SegmentArgs:
    box = kw.pop("box", None)
    if isinstance(box, list):  # written as corners here: the tool takes {x, y, width, height}
        kw["box"] = Box.from_corners(*box).model_dump()
    return SegmentArgs.model_validate({"image_id": "img1", **kw})


def test_box_on_slide_uses_slide_mpp_and_level0_coordinates(slide: Path, tmp_path: Path) -> None:
    box = [BLOCK, BLOCK, BLOCK + 140, BLOCK + 128]  # exactly one tissue patch
    result = segment(_args(target="nuclei_he", box=box), _ctx(tmp_path, slide))
    assert result.count == len(NUCLEUS_CENTRES)
    assert result.total_area.unit == "µm²" and "from the slide" in result.scale
    assert result.region.corners == (BLOCK, BLOCK, BLOCK + 140, BLOCK + 128)
    for s in result.structures:
        assert s.area.value == pytest.approx(s.area_px * 0.0625, rel=1e-3)
    centroids = sorted(
        (round(s.centroid[1]) - BLOCK, round(s.centroid[0]) - BLOCK) for s in result.structures
    )
    assert all(
        abs(a - b) <= 1
        for c, t in zip(centroids, sorted(NUCLEUS_CENTRES), strict=True)
        for a, b in zip(c, t, strict=True)
    )
    assert any("read at full resolution" in n for n in result.notes)


def test_prompt_points_on_slide_are_level0(slide: Path, tmp_path: Path) -> None:
    r, c = NUCLEUS_CENTRES[0]
    box = [BLOCK, BLOCK, BLOCK + 60, BLOCK + 60]
    result = segment(
        _args(target="prompted", box=box, points=[[BLOCK + c, BLOCK + r]]), _ctx(tmp_path, slide)
    )
    (s,) = result.structures
    assert abs(s.centroid[0] - (BLOCK + c)) <= 1 and abs(s.centroid[1] - (BLOCK + r)) <= 1
    assert s.area.unit == "µm²"


def test_whole_slide_needs_a_box_except_tissue(
    slide: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ToolArgumentError, match=r"whole-slide image \(1024×1024 px\): give a box"):
        segment(_args(target="nuclei_he"), _ctx(tmp_path, slide))
    monkeypatch.setattr(source, "TISSUE_THUMBNAIL_SIDE", 256)  # a thumbnail 4× smaller
    result = segment(_args(target="tissue"), _ctx(tmp_path, slide))
    assert any("256×256 thumbnail" in n for n in result.notes)
    assert "1 µm/px from the slide" in result.scale
    assert result.region.corners == (0, 0, 1024, 1024)
    assert result.total_area.unit == "µm²"
    # 16 patches of 140×128 px at 0.25 µm/px: 71,680 µm² (JPEG edges allow a few percent).
    assert result.total_area.value == pytest.approx(16 * 140 * 128 * 0.0625, rel=0.05)
    boxes = [s.bbox.corners for s in result.structures]
    assert min(b[0] for b in boxes) <= 4 and max(b[2] for b in boxes) >= 3 * BLOCK + 136


def test_box_limit_on_slides(slide: Path, tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, slide)
    ctx.deps = [SegmentationConfig(max_pixels=10_000)]
    with pytest.raises(ToolError, match="box of 200×200 px is over segment's 10,000 px limit"):
        segment(_args(target="nuclei_he", box=[0, 0, 200, 200]), ctx)
    with pytest.raises(ToolArgumentError, match="lies outside the 1024×1024 slide"):
        segment(_args(target="nuclei_he", box=[2000, 0, 2100, 50]), _ctx(tmp_path, slide))
