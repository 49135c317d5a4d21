"""The `segment` tool: masks, overlay and measurements in physical units."""

from __future__ import annotations

import statistics
import uuid

import numpy as np
from pydantic import Field

from tools.atomic import atomic_path
from tools.errors import ToolError
from tools.geometry import Box
from tools.registry import ToolContext, ToolResult
from tools.segmentation.backends import get_segmenter, volume_segmenter
from tools.segmentation.config import SegmentationConfig
from tools.segmentation.ct import VolumeSegmentResult, segment_ct
from tools.segmentation.interactive import check_prompts, clip_box
from tools.segmentation.measure import Area, Structure, measure, pixel_area, round_sig
from tools.segmentation.outputs import palette, render_overlay, save_mask_png, save_rle_json
from tools.segmentation.schema import SegmentArgs
from tools.segmentation.source import Source, open_source
from tools.segmentation.types import Prompts, SegInput, Segmentation, Target


class SegmentResult(ToolResult):
    """What segment reports: counts, areas with units, and the stored files."""

    image_id: str
    target: Target
    backend: str
    method: str
    count: int = Field(description="Number of structures found.")
    total_area: Area
    area_fraction: float = Field(description="Share of the analysed region covered, 0..1.")
    scale: str = Field(description="Where the area unit comes from.")
    mean_area: Area | None = None
    median_area: Area | None = None
    structures: list[Structure] = Field(description="Largest first.")
    structures_not_listed: int = 0
    region: Box = Field(description="The analysed region.")
    mask_png: str = Field(description="Label image: 0 background, each structure its label.")
    mask_rle: str = Field(description="COCO-style RLE per structure (JSON).")
    overlay_png: str
    notes: list[str] = Field(default_factory=list)


def segment(args: SegmentArgs, ctx: ToolContext) -> SegmentResult | VolumeSegmentResult:
    """Segment structures in an attached image and measure them.

    Targets: nuclei_he, nuclei_fluorescence (counts nuclei), tissue, lung_fields,
    retinal_vessels, or prompted: the object inside `box` {x, y, width, height} or at
    `points` [[x, y]] (pixels; a box works better than a point). With other targets a
    box limits the analysed region; on a whole-slide image a box (level-0 pixels) is
    required except for tissue. Returns the count, each structure's area with its unit
    (mm² from pixel spacing, µm² from the slide or microns_per_pixel, else px), bounding
    boxes, centroids, and an overlay image. On a CT series, target ct_organs labels up
    to 117 structures in 3-D and reports each one's volume in mL.
    """
    config = ctx.get(SegmentationConfig)
    if args.target is Target.CT_ORGANS and args.backend in ("classical", "totalsegmentator"):
        return segment_ct(args, ctx, lambda: volume_segmenter(config), config.max_listed)
    att = ctx.attachment(args.image_id)
    box = args.box.corners if args.box is not None else None  # internals use corners
    src = open_source(att, args.target, box, config.max_pixels)
    notes = list(src.notes)
    pixels = src.pixels
    if src.mode == "MONOCHROME1":  # stored inverted (low = white): segment what is displayed
        pixels = np.asarray(pixels.max() - pixels)
        notes.append("MONOCHROME1 image: inverted so that air is dark, as displayed")
    mpp, mpp_origin = (
        (src.mpp, "from the slide") if src.mpp else (args.microns_per_pixel, "as given")
    )
    prompts = Prompts(tuple(args.points), tuple(args.background_points), box)
    if args.target is not Target.PROMPTED and (args.points or args.background_points):
        notes.append(f"points are ignored for target {args.target.value!r}")
        prompts = Prompts(box=box)
    if src.slide:
        prompts = _into_region(prompts, src, args.target)
    h, w = pixels.shape[:2]
    check_prompts(prompts, (h, w))
    x0, y0, x1, y1 = (0, 0, w, h)
    if box is not None and args.target is not Target.PROMPTED and not src.slide:
        x0, y0, x1, y1 = clip_box(box, (h, w))
        notes.append(f"analysed only the box {Box.from_corners(x0, y0, x1, y1).describe()}")
    if (y1 - y0) * (x1 - x0) > config.max_pixels:
        raise ToolError(
            f"region of {x1 - x0}×{y1 - y0} px is over segment's {config.max_pixels:,} px limit: "
            "pass a smaller box (or crop the slide first)."
        )
    segmenter = get_segmenter(args.target, args.backend, config)
    seg = segmenter.segment(
        SegInput(pixels[y0:y1, x0:x1], src.spacing_mm, mpp, src.modality), args.target, prompts
    )
    if (x0, y0, x1, y1) != (0, 0, w, h):
        full = np.zeros((h, w), np.int32)
        full[y0:y1, x0:x1] = seg.labels
        seg.labels = full
    structures = [_to_source(s, src) for s in measure(seg, src.spacing_mm, mpp)]
    ox, oy = src.offset
    region = Box.from_corners(ox + round(x0 * src.scale), oy + round(y0 * src.scale),
                              ox + round(x1 * src.scale), oy + round(y1 * src.scale))  # fmt: skip
    scale = _scale(src.spacing_mm, mpp, mpp_origin)
    if src.scale != 1.0:
        notes.append(f"area_px counts analysed pixels (each {src.scale:.1f}× a slide pixel wide)")
    analysed = (x1 - x0) * (y1 - y0)
    return _result(args, ctx, pixels, seg, structures, config.max_listed, notes, region, analysed,
                   src.spacing_mm, mpp, scale)  # fmt: skip


def _into_region(prompts: Prompts, src: Source, target: Target) -> Prompts:
    """Slide prompts are in level-0 pixels; the analysed pixels are the box's region."""
    if target is not Target.PROMPTED:
        return Prompts()
    ox, oy = src.offset
    h, w = src.pixels.shape[:2]
    return Prompts(
        tuple((x - ox, y - oy) for x, y in prompts.points),
        tuple((x - ox, y - oy) for x, y in prompts.background_points),
        (0, 0, w, h),
    )


def _to_source(s: Structure, src: Source) -> Structure:
    """Bounding box and centroid in the attachment's own (level-0) pixel coordinates."""
    if src.offset == (0, 0) and src.scale == 1.0:
        return s
    (ox, oy), k = src.offset, src.scale
    x0, y0, x1, y1 = s.bbox.corners
    bbox = Box.from_corners(
        ox + round(x0 * k), oy + round(y0 * k), ox + round(x1 * k), oy + round(y1 * k)
    )
    centroid = (round(ox + s.centroid[0] * k, 1), round(oy + s.centroid[1] * k, 1))
    return s.model_copy(update={"bbox": bbox, "centroid": centroid})


def _scale(spacing: tuple[float, float] | None, mpp: float | None, origin: str) -> str:
    if spacing is not None:
        return f"pixel spacing {spacing[0]:g}×{spacing[1]:g} mm from the file"
    if mpp is not None:
        return f"{mpp:.4g} µm/px {origin}"
    return "no physical scale known: areas in pixels"


def _result(
    args: SegmentArgs,
    ctx: ToolContext,
    pixels: np.ndarray,
    seg: Segmentation,
    structures: list[Structure],
    max_listed: int,
    notes: list[str],
    region: Box,
    analysed_px: int,
    spacing: tuple[float, float] | None,
    mpp: float | None,
    scale: str,
) -> SegmentResult:
    factor, unit = pixel_area(spacing, mpp)
    stem = f"seg-{args.target.value}-{uuid.uuid4().hex[:8]}"
    out = ctx.artifact_dir
    save_mask_png(seg.labels, out / f"{stem}-mask.png")
    save_rle_json(seg.labels, structures, out / f"{stem}-rle.json")
    legend = _legend(seg, structures, unit)
    overlay = render_overlay(pixels, seg.labels, legend, seg.instances)
    with atomic_path(out / f"{stem}-overlay.png") as tmp:
        overlay.save(tmp, format="PNG", compress_level=3)
    ordered = sorted(structures, key=lambda s: -s.area_px)
    total_px = sum(s.area_px for s in structures)
    areas = [s.area.value for s in structures]
    caption = f"{args.target.value}: " + "; ".join(text for text, _ in legend)
    artifacts = [
        ctx.artifact(out / f"{stem}-overlay.png", "image", caption),
        ctx.artifact(out / f"{stem}-mask.png", "mask", f"label mask ({args.target.value})"),
        ctx.artifact(out / f"{stem}-rle.json", "file", "RLE masks (COCO format)"),
    ]
    return SegmentResult(
        artifacts=artifacts,
        image_id=args.image_id,
        target=args.target,
        backend=args.backend,
        method=seg.method,
        count=len(structures),
        total_area=Area(value=round_sig(total_px * factor), unit=unit),
        area_fraction=round(total_px / max(1, analysed_px), 4),
        scale=scale,
        mean_area=Area(value=round_sig(statistics.fmean(areas)), unit=unit)
        if seg.instances and areas
        else None,
        median_area=Area(value=round_sig(statistics.median(areas)), unit=unit)
        if seg.instances and areas
        else None,
        structures=ordered[:max_listed],
        structures_not_listed=max(0, len(ordered) - max_listed),
        region=region,
        mask_png=artifacts[1].path,
        mask_rle=artifacts[2].path,
        overlay_png=artifacts[0].path,
        notes=notes + seg.notes,
    )


Colour = tuple[int, int, int]


def _rgb(colour: np.ndarray) -> Colour:
    return int(colour[0]), int(colour[1]), int(colour[2])


def _legend(seg: Segmentation, structures: list[Structure], unit: str) -> list[tuple[str, Colour]]:
    if not structures:
        return [("nothing found", (128, 128, 128))]
    colours = palette(max(s.label for s in structures), seg.instances)
    if seg.instances:
        total = round_sig(sum(s.area.value for s in structures))
        name = seg.plural or seg.names.get(0, "object") + "s"
        return [(f"{len(structures)} {name}, total {total:g} {unit}", _rgb(colours[0]))]
    return [(f"{s.name}: {s.area.value:g} {unit}", _rgb(colours[s.label - 1])) for s in structures]
