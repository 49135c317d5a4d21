"""slide_overview, slide_zoom and slide_note called directly, and the visit record."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import make_attachment
from tests.tools.slides.conftest import BLUE_BOX, RED, RED_BOX
from tools.errors import ToolArgumentError, UnreadableImageError
from tools.geometry import Box
from tools.registry import ToolContext
from tools.slides.config import SlideSettings
from tools.slides.guides import LEFT, TOP
from tools.slides.navigate import (
    SlideNoteArgs,
    SlideOverviewArgs,
    SlideZoomArgs,
    SlideZoomResult,
    slide_note,
    slide_overview,
    slide_zoom,
)
from tools.slides.visits import list_visits


@pytest.fixture(params=["aperio.svs", "dicom-wsi/level-0.dcm"])
def ctx(slide_dir: Path, tmp_path: Path, request: pytest.FixtureRequest) -> ToolContext:
    return ToolContext(
        session_id="s1",
        session_dir=tmp_path / "session",
        attachments={"wsi1": make_attachment(slide_dir / request.param, "wsi1")},
    )


def _zoom(ctx: ToolContext, x: int, y: int, w: int, h: int) -> tuple[SlideZoomResult, np.ndarray]:
    box = Box(x=x, y=y, width=w, height=h)
    result = slide_zoom(SlideZoomArgs(image_id="wsi1", box=box), ctx)
    image = np.asarray(Image.open(ctx.session_dir / result.artifacts[0].path))
    return result, image[TOP:, LEFT:]


def test_overview_reports_metadata_and_tissue(ctx: ToolContext) -> None:
    result = slide_overview(SlideOverviewArgs(image_id="wsi1"), ctx)
    info = result.slide
    assert (info.width, info.height, info.objective_power) == (1024, 768, 20)
    boxes = [(r.x, r.y, r.width, r.height) for r in result.tissue_regions]
    assert len(boxes) == 2
    for got, want in zip(boxes, (BLUE_BOX, RED_BOX), strict=True):
        assert max(abs(g - w) for g, w in zip(got, want, strict=True)) <= 6
    # 20x slide: a Z box would show at 10x over 2048 px, capped at a quarter slide (256).
    # The blue square is darker than the red one, so its two squares come first.
    zooms = [(z.x, z.y, z.width, z.height) for z in result.suggested_zooms]
    assert zooms == [(0, 512, 256, 256), (256, 512, 256, 256), (512, 0, 256, 256)]
    (art,) = result.artifacts
    assert art.kind == "image" and art.media_type == "image/jpeg"
    with Image.open(ctx.session_dir / art.path) as img:
        assert img.width <= 1024 and img.width - LEFT == 1024 - LEFT
    assert "base64" not in result.for_model()


def test_zoom_returns_the_content_at_full_resolution(ctx: ToolContext) -> None:
    x, y, w, h = RED_BOX
    result, crop = _zoom(ctx, x - 50, y - 50, w + 100, h + 100)
    assert (result.shown_width, result.shown_height) == (300, 300)
    assert result.full_resolution and result.magnification == 20.0 and result.um_per_px == 0.5
    assert crop.shape[:2] == (300, 300)
    # Pixels away from the guide lines (drawn every 50 level-0 px): (720, 210) is red,
    # (570, 70) is glass.
    assert np.abs(crop[160, 170].astype(int) - RED).max() <= 15
    assert crop[20, 20].min() >= 235
    assert result.measurements.tissue_fraction == pytest.approx((200 * 200) / (300 * 300), abs=0.03)


def test_zoom_out_lowers_magnification(ctx: ToolContext) -> None:
    ctx.deps = [SlideSettings(crop_max_side=256)]
    result, crop = _zoom(ctx, 0, 0, 1024, 768)
    assert (result.shown_width, result.shown_height) == (256, 192)
    assert result.magnification == 5.0 and result.um_per_px == 2.0 and not result.full_resolution
    # The red square (600..800, 100..300) is at (150..200, 25..75) when shown at 1/4.
    assert np.abs(crop[55, 170].astype(int) - RED).max() <= 15  # level 0 (680, 220)
    assert crop[55, 140].min() >= 235  # level 0 (560, 220): glass


def test_zoom_past_the_edge_is_padded(ctx: ToolContext) -> None:
    result, crop = _zoom(ctx, 900, 700, 300, 300)
    assert (result.shown_width, result.shown_height) == (300, 300)
    assert crop[210:240, 210:240].min() >= 235  # beyond both edges, off the guide lines
    assert crop[210:240, 10:40].min() >= 235 and crop[10:40, 210:240].min() >= 235


@pytest.mark.parametrize(
    ("box", "message"),
    [
        ((5000, 0, 100, 100), r"outside the slide, which spans x 0\.\.1024 and y 0\.\.768"),
        ((10, 10, 4, 400), "at least 16 level-0 pixels"),
    ],
)
def test_bad_zooms_go_back_to_the_model(ctx: ToolContext, box: tuple[int, int, int, int],
                                        message: str) -> None:
    with pytest.raises(ToolArgumentError, match=message):
        _zoom(ctx, *box)


def test_visits_and_notes_are_recorded_in_order(ctx: ToolContext) -> None:
    slide_overview(SlideOverviewArgs(image_id="wsi1"), ctx)
    _zoom(ctx, 500, 0, 400, 400)
    _zoom(ctx, 600, 100, 200, 200)
    note = slide_note(SlideNoteArgs(image_id="wsi1", text="Solid red block, no nuclei."), ctx)
    second = slide_note(SlideNoteArgs(image_id="wsi1", text="Blue block lower left."), ctx)
    assert note.notes == ["Solid red block, no nuclei."]
    assert second.notes == ["Solid red block, no nuclei.", "Blue block lower left."]
    visits = list_visits(ctx.session_dir, "wsi1")
    assert [v.kind for v in visits] == ["overview", "zoom", "zoom", "note", "note"]
    assert [v.seq for v in visits] == [1, 2, 3, 4, 5]
    zooms = list_visits(ctx.session_dir, "wsi1", "zoom")
    boxes = [(z.x, z.y, z.width, z.height) for z in zooms]
    assert boxes == [(500, 0, 400, 400), (600, 100, 200, 200)]
    assert all(z.artifact and (ctx.session_dir / z.artifact).is_file() for z in zooms)
    assert (visits[3].x, visits[3].width) == (600, 200)  # a note is tied to the last zoom
    assert list_visits(ctx.session_dir, "other") == []


def test_unknown_image_and_broken_slide(ctx: ToolContext, tmp_path: Path) -> None:
    with pytest.raises(ToolArgumentError, match=r"no attachment 'wsi9'.*wsi1"):
        slide_overview(SlideOverviewArgs(image_id="wsi9"), ctx)
    broken = tmp_path / "broken.svs"
    broken.write_bytes(b"II*\x00" + b"\x00" * 64)
    ctx.attachments = {"wsi1": make_attachment(broken, "wsi1")}
    with pytest.raises(UnreadableImageError, match=r"broken\.svs: cannot be opened as a slide"):
        slide_overview(SlideOverviewArgs(image_id="wsi1"), ctx)


def test_text_only_measurements_describe_the_crop(ctx: ToolContext) -> None:
    glass, _ = _zoom(ctx, 0, 0, 90, 90)
    red, _ = _zoom(ctx, 620, 120, 100, 100)
    assert glass.measurements.tissue_fraction == 0.0
    assert red.measurements.tissue_fraction == 1.0
    assert red.measurements.mean_rgb[0] > 150


def test_dicom_wsi_header_phi_stays_out_of_results(slide_dir: Path, tmp_path: Path) -> None:
    """The DICOM-WSI fixture names a patient; no tool result carries it (or its UIDs)."""
    import pydicom

    path = slide_dir / "dicom-wsi" / "level-0.dcm"
    header = pydicom.dcmread(path, stop_before_pixels=True)
    ctx = ToolContext("s1", tmp_path / "session", {"wsi1": make_attachment(path, "wsi1")})
    texts = [
        slide_overview(SlideOverviewArgs(image_id="wsi1"), ctx).for_model(),
        slide_zoom(SlideZoomArgs(image_id="wsi1", box=Box(x=0, y=0, width=300, height=300)), ctx)
        .for_model(),
    ]
    for secret in ("Doe", "Jane", str(header.StudyInstanceUID), str(header.SOPInstanceUID)):
        assert all(secret not in text for text in texts), secret
