"""The slide navigation tools: slide_overview, slide_zoom and slide_note.

Like a pathologist (and GIANT): look at the whole slide, zoom into level-0 rectangles
read off the rulers, keep notes, answer. Every step is recorded in the session.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from pydantic import Field

from tools.atomic import atomic_path
from tools.errors import ToolArgumentError
from tools.geometry import Box
from tools.registry import ImageId, ToolArgs, ToolContext, ToolResult
from tools.slides.base import Slide
from tools.slides.config import SlideSettings
from tools.slides.guides import LEFT, draw_guides
from tools.slides.opener import SLIDES
from tools.slides.resolution import read_downsampled
from tools.slides.tissue import (
    CropMeasurements,
    TissueRegion,
    ZoomSuggestion,
    measure_crop,
    region_of,
    suggest_zooms,
    tissue_mask,
    tissue_regions,
)
from tools.slides.types import Region, SlideInfo
from tools.slides.visits import Visit, list_visits, record_visit


def _settings(ctx: ToolContext) -> SlideSettings:
    return ctx.get(SlideSettings)


def _open(ctx: ToolContext, image_id: str) -> Slide:
    return SLIDES.get(ctx.attachment(image_id).path)


def _save(ctx: ToolContext, image: Image.Image, name: str, quality: int) -> Path:
    path = ctx.artifact_dir / name
    with atomic_path(path) as tmp:
        image.save(tmp, format="JPEG", quality=quality)
    return path


class SlideOverviewArgs(ToolArgs):
    """Arguments of slide_overview."""

    image_id: ImageId


class SlideOverviewResult(ToolResult):
    """What slide_overview reports."""

    image_id: str
    slide: SlideInfo
    tissue_regions: list[TissueRegion]
    suggested_zooms: list[ZoomSuggestion]
    hint: str


def slide_overview(args: SlideOverviewArgs, ctx: ToolContext) -> SlideOverviewResult:
    """Show a whole-slide image (pathology slide) at low power, with rulers in level-0 pixels.

    Returns the slide's size, magnification and microns per pixel, tissue pieces T1, T2,
    ... and suggested zooms Z1, Z2, ... (densest tissue first), all as boxes (x, y, width,
    height in level-0 pixels). Call it first on a slide, then slide_zoom into the boxes.
    """
    settings = _settings(ctx)
    slide = _open(ctx, args.image_id)
    width, height = slide.dimensions
    thumb = slide.thumbnail(settings.thumbnail_max_side - LEFT)
    scale = width / thumb.width
    pixels = np.asarray(thumb)
    mask = tissue_mask(pixels)
    regions = tissue_regions(mask, scale, settings.max_tissue_regions)
    info = slide.info()
    suggestions = suggest_zooms(
        pixels, mask, scale, _suggestion_side(info, settings), settings.max_suggestions
    )
    whole = Region(x=0, y=0, width=width, height=height)
    boxes = [(r.label, region_of(r)) for r in regions]
    boxes += [(z.label, Region(x=z.x, y=z.y, width=z.width, height=z.height)) for z in suggestions]
    framed = draw_guides(thumb, whole, boxes)
    path = _save(ctx, framed, f"slide_{args.image_id}_overview.jpg", settings.jpeg_quality)
    record_visit(
        ctx.session_dir,
        Visit(seq=0, kind="overview", image_id=args.image_id, x=0, y=0, width=width,
              height=height, magnification=_power(info, scale), artifact=_rel(ctx, path)),
    )
    caption = f"{args.image_id} overview ({width}×{height} px at level 0)"
    return SlideOverviewResult(
        image_id=args.image_id,
        slide=info,
        tissue_regions=regions,
        suggested_zooms=suggestions,
        hint="Zoom with slide_zoom and a box {x, y, width, height} in level-0 pixels, e.g. Z1."
        if regions
        else "No tissue found at low power; zoom into the whole slide in parts to check.",
        artifacts=[ctx.artifact(path, "image", caption)],
    )


class SlideZoomArgs(ToolArgs):
    """Arguments of slide_zoom."""

    image_id: ImageId
    box: Box = Field(description="The rectangle, in level-0 pixels: x, y (top-left), size.")


class SlideZoomResult(ToolResult):
    """What slide_zoom reports."""

    image_id: str
    zoom_number: int = Field(description="How many zooms into this slide so far.")
    region: Region
    shown_width: int
    shown_height: int
    magnification: float | None = Field(default=None, description="Effective magnification shown.")
    um_per_px: float | None = Field(default=None, description="Microns per shown pixel.")
    full_resolution: bool
    measurements: CropMeasurements
    hint: str


def _suggestion_side(info: SlideInfo, settings: SlideSettings) -> int:
    """Side of a Z box: what a crop shows at `suggestion_power`, at most a quarter slide."""
    quarter = max(info.width, info.height) // 4
    if info.objective_power:
        side = round(settings.crop_max_side * info.objective_power / settings.suggestion_power)
        return max(64, min(side, quarter))
    return max(64, quarter)


def _power(info: SlideInfo, downsample: float) -> float | None:
    return round(info.objective_power / downsample, 2) if info.objective_power else None


def _rel(ctx: ToolContext, path: Path) -> str:
    return path.resolve().relative_to(ctx.session_dir.resolve()).as_posix()


def slide_zoom(args: SlideZoomArgs, ctx: ToolContext) -> SlideZoomResult:
    """Zoom into a rectangle of a whole-slide image.

    box: x, y (top-left corner), width and height in level-0 pixels, as printed on the
    rulers of slide_overview or of an earlier zoom. Shows the region at up to 1024 pixels a side
    with rulers, its magnification, and measurements (tissue fraction, colour,
    haematoxylin/eosin density, nuclei-like blob count). Smaller rectangles show more detail.
    """
    settings = _settings(ctx)
    slide = _open(ctx, args.image_id)
    width, height = slide.dimensions
    region = args.box
    if region.clipped(width, height) is None:
        raise ToolArgumentError(
            f"box {region.describe()} lies outside the slide, which spans x 0..{width} and "
            f"y 0..{height} (level 0)."
        )
    if min(region.width, region.height) < settings.min_zoom_side:
        raise ToolArgumentError(
            f"width and height must be at least {settings.min_zoom_side} level-0 pixels; "
            f"got {region.width}×{region.height}."
        )
    downsample = max(1.0, max(region.width, region.height) / settings.crop_max_side)
    crop = read_downsampled(slide, region, downsample)
    info = slide.info()
    um_per_px = round(info.mpp * downsample, 4) if info.mpp else None
    measurements = measure_crop(np.asarray(crop), um_per_px)
    number = len(list_visits(ctx.session_dir, args.image_id, "zoom")) + 1
    box = f"{region.x}_{region.y}_{region.width}_{region.height}"
    name = f"slide_{args.image_id}_zoom{number:02d}_{box}.jpg"
    path = _save(ctx, draw_guides(crop, region), name, settings.jpeg_quality)
    power = _power(info, downsample)
    record_visit(
        ctx.session_dir,
        Visit(seq=0, kind="zoom", image_id=args.image_id, x=region.x, y=region.y,
              width=region.width, height=region.height, magnification=power,
              artifact=_rel(ctx, path)),
    )
    full = downsample == 1.0
    mag = f"{power:g}x" if power else f"downsample {downsample:.3g}"
    return SlideZoomResult(
        image_id=args.image_id,
        zoom_number=number,
        region=region,
        shown_width=crop.width,
        shown_height=crop.height,
        magnification=power,
        um_per_px=um_per_px,
        full_resolution=full,
        measurements=measurements,
        hint="Full resolution: zooming further shows no more detail."
        if full
        else "Zoom into a smaller rectangle inside this one for more detail.",
        artifacts=[ctx.artifact(path, "image", f"{args.image_id} zoom {number} at {mag}")],
    )


class SlideNoteArgs(ToolArgs):
    """Arguments of slide_note."""

    image_id: ImageId
    text: str = Field(min_length=1, max_length=500, description="The observation.")


class SlideNoteResult(ToolResult):
    """All notes taken on the slide so far."""

    image_id: str
    notes: list[str]


def slide_note(args: SlideNoteArgs, ctx: ToolContext) -> SlideNoteResult:
    """Write down an observation about a whole-slide image (what you saw and where).

    Use the notes in the final answer. Returns all notes so far on that slide.
    """
    ctx.attachment(args.image_id)
    last_zoom = list_visits(ctx.session_dir, args.image_id, "zoom")[-1:]
    box = last_zoom[0].model_dump(include={"x", "y", "width", "height"}) if last_zoom else {}
    record_visit(
        ctx.session_dir, Visit(seq=0, kind="note", image_id=args.image_id, text=args.text, **box)
    )
    notes = [v.text or "" for v in list_visits(ctx.session_dir, args.image_id, "note")]
    return SlideNoteResult(image_id=args.image_id, notes=notes)
