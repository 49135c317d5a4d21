"""The `view_dicom` tool: render one frame with a chosen window as an image artifact."""

from __future__ import annotations

import re

from pydantic import Field

from tools.atomic import atomic_write_bytes
from tools.errors import ToolArgumentError
from tools.imaging.image import LoadedImage
from tools.imaging.reader import load_attachment
from tools.imaging.render import display_array, encode_png
from tools.imaging.windowing import CT_PRESETS, WINDOW_PRESETS, Window, WindowPreset
from tools.registry import ImageId, ToolArgs, ToolContext, ToolResult

VIEW_MAX_SIDE = 1024
"""Longer side of the rendered PNG: enough detail for the chat and the model."""


class ViewDicomArgs(ToolArgs):
    """Arguments of view_dicom."""

    image_id: ImageId
    window: WindowPreset = Field(
        default="auto",
        description="Display window. auto: the file's own; lung, mediastinum, bone, brain, "
        "abdomen: CT presets in HU; full: whole value range.",
    )
    center: float | None = Field(
        default=None, description="Window center; give with width to override"
    )
    width: float | None = Field(default=None, gt=0, description="Window width; give with center")
    frame: int | None = Field(
        default=None,
        ge=1,
        description="Frame of a multi-frame image, or slice of a series, counted from 1; "
        "default: the first frame, the middle slice of a series",
    )


class ViewDicomResult(ToolResult):
    """What view_dicom rendered."""

    image_id: str
    frame: int = Field(description="Frame shown, counted from 1.")
    frames: int
    window_used: str
    modality: str | None = None
    units: str | None = None
    width_px: int
    height_px: int
    notes: list[str] = Field(default_factory=list)


def _window(args: ViewDicomArgs, image: LoadedImage) -> WindowPreset | Window:
    if (args.center is None) != (args.width is None):
        raise ToolArgumentError("give both center and width for an explicit window, or neither")
    if args.center is not None and args.width is not None:
        return Window(args.center, args.width, "custom")
    if args.window in CT_PRESETS and image.units != "HU":
        kind = image.modality or image.source_format
        raise ToolArgumentError(
            f"window {args.window!r} is a CT preset in Hounsfield units, but this image is "
            f"{kind} without HU values; use 'auto' or 'full', or center and width. "
            f"Presets: {', '.join(WINDOW_PRESETS)}."
        )
    return args.window


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40]


def view_dicom(args: ViewDicomArgs, ctx: ToolContext) -> ViewDicomResult:
    """Render an attached image (DICOM or other) with a display window and show it.

    Use it to look at CT with a preset window (lung, mediastinum, bone, brain, abdomen),
    an explicit center/width, or another frame of a multi-frame image or slice of a
    series (default: the middle slice). The picture is shown to the user and attached
    for you to see.
    """
    att = ctx.attachment(args.image_id)
    key = ctx.deid_key
    frame = att.facts.default_frame if args.frame is None else args.frame - 1  # 0-based
    image = load_attachment(att, frame=frame, deid_key=key)
    window = _window(args, image)
    pixels, used = display_array(image, window)
    notes = list(image.notes)
    if image.channels > 1 and window != "auto":
        notes.append("colour image: the window does not apply and was ignored")
    used = used or "none (8-bit image shown as stored)"
    path = ctx.artifact_dir / f"{_slug(att.id)}-f{frame + 1}-{_slug(used)}.png"
    atomic_write_bytes(path, encode_png(pixels, VIEW_MAX_SIDE))
    caption = f"{att.id} frame {frame + 1} of {image.frame_count}, window {used}"
    return ViewDicomResult(
        image_id=att.id,
        frame=frame + 1,
        frames=image.frame_count,
        window_used=used,
        modality=image.modality,
        units=image.units,
        width_px=image.width,
        height_px=image.height,
        notes=notes,
        artifacts=[ctx.artifact(path, "image", caption)],
    )
