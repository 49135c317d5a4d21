"""The `measure` tool: a distance or an area the person draws in the image viewer.

The viewer sends the shape in image pixels; the size in mm comes from the file's
PixelSpacing (or ImagerPixelSpacing, with its caveat), and the values inside an area from
the stored modality values (HU on CT). A file without spacing is measured in pixels and
says so. The result joins the conversation like any tool result: the model sees it and
reports can cite it.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, Field, model_validator

from tools.errors import ToolArgumentError
from tools.imaging.pyramid import Spacing, spacing_of
from tools.imaging.reader import load_attachment
from tools.registry import ImageId, ToolArgs, ToolContext, ToolResult
from tools.segmentation._skimage import draw
from tools.segmentation.measure import round_sig

Shape = Literal["line", "ellipse", "polygon"]
MIN_POINTS: dict[str, int] = {"line": 2, "ellipse": 2, "polygon": 3}


class MeasureArgs(ToolArgs):
    """Arguments of measure."""

    image_id: ImageId
    shape: Shape = Field(
        description="line: a distance; ellipse: an oval area; polygon: an outlined area."
    )
    points: list[tuple[float, float]] = Field(
        min_length=2,
        max_length=500,
        description="[x, y] image pixels. line: its two ends; ellipse: two opposite corners "
        "of its bounding box; polygon: its corners in order.",
    )
    frame: int | None = Field(
        default=None, ge=1, description="Frame or slice, counted from 1; default: the shown one"
    )

    @model_validator(mode="after")
    def _enough_points(self) -> MeasureArgs:
        need = MIN_POINTS[self.shape]
        if len(self.points) < need or (self.shape != "polygon" and len(self.points) != need):
            least = "at least " if self.shape == "polygon" else ""
            raise ValueError(f"a {self.shape} needs {least}{need} points")
        return self


class Quantity(BaseModel):
    """A number with its unit."""

    value: float
    unit: str


class ValueStats(BaseModel):
    """Stored values inside an area (modality units: HU on CT)."""

    mean: float
    sd: float
    min: float
    max: float
    pixels: int
    units: str | None = None


class MeasureResult(ToolResult):
    """What measure found."""

    image_id: str
    frame: int = Field(description="Frame measured, counted from 1.")
    shape: Shape
    length: Quantity | None = Field(default=None, description="A line's length.")
    area: Quantity | None = Field(default=None, description="An ellipse's or polygon's area.")
    perimeter: Quantity | None = None
    values: ValueStats | None = Field(default=None, description="Values inside the area.")
    calibration: str = Field(description="Where the physical size came from.")
    notes: list[str] = Field(default_factory=list)


def _scaled(points: list[tuple[float, float]], spacing: Spacing | None) -> NDArray[np.float64]:
    """Points in mm (x scaled by the column spacing, y by the row spacing), or pixels."""
    pts = np.asarray(points, dtype=np.float64)
    if spacing is not None:
        pts = pts * np.array([spacing.col_mm, spacing.row_mm])
    return pts


def _inside(
    shape: Shape, points: list[tuple[float, float]], height: int, width: int
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Row and column indices of the pixels whose centres lie inside the shape."""
    pts = np.asarray(points, dtype=np.float64) - 0.5  # pixel (i, j) has its centre at i + .5
    if shape == "ellipse":
        (x0, y0), (x1, y1) = pts
        rows, cols = draw.ellipse(
            (y0 + y1) / 2, (x0 + x1) / 2, abs(y1 - y0) / 2, abs(x1 - x0) / 2, shape=(height, width)
        )
    else:
        rows, cols = draw.polygon(pts[:, 1], pts[:, 0], shape=(height, width))
    return np.asarray(rows, np.intp), np.asarray(cols, np.intp)


def _area_and_perimeter(shape: Shape, pts: NDArray[np.float64]) -> tuple[float, float]:
    if shape == "ellipse":
        a, b = abs(pts[1, 0] - pts[0, 0]) / 2, abs(pts[1, 1] - pts[0, 1]) / 2
        # Ramanujan's approximation of the ellipse's circumference.
        h = ((a - b) / (a + b)) ** 2 if a + b else 0.0
        return math.pi * a * b, math.pi * (a + b) * (1 + 3 * h / (10 + math.sqrt(4 - 3 * h)))
    x, y = pts[:, 0], pts[:, 1]
    area = 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
    closed = np.vstack([pts, pts[:1]])
    return area, float(np.sum(np.hypot(*np.diff(closed, axis=0).T)))


def measure(args: MeasureArgs, ctx: ToolContext) -> MeasureResult:
    """Measure a distance (line) or an area (ellipse, polygon) drawn on an image.

    Made by the person in the image viewer. Lengths are in mm from the file's pixel
    spacing, else in pixels; areas also report the stored values inside (HU on CT).
    """
    att = ctx.attachment(args.image_id)
    frame = att.facts.default_frame if args.frame is None else args.frame - 1
    image = load_attachment(att, frame=frame, deid_key=ctx.deid_key)
    height, width = image.height, image.width
    for x, y in args.points:
        if not (0 <= x <= width and 0 <= y <= height):
            raise ToolArgumentError(
                f"point ({x:g}, {y:g}) is outside {att.id} ({width}×{height} pixels)"
            )
    spacing = spacing_of(image)
    unit = "mm" if spacing else "px"
    notes: list[str] = []
    if spacing is None:
        calibration = "none: the file has no pixel spacing, so sizes are in pixels"
        notes.append("uncalibrated: sizes are in pixels, not mm")
    else:
        calibration = f"{spacing.source} {spacing.row_mm:g} × {spacing.col_mm:g} mm (row × column)"
        if spacing.caveat:
            notes.append(spacing.caveat)
    pts = _scaled(args.points, spacing)
    result = MeasureResult(
        image_id=att.id, frame=frame + 1, shape=args.shape, calibration=calibration, notes=notes
    )
    if args.shape == "line":
        length = float(np.hypot(*(pts[1] - pts[0])))
        result.length = Quantity(value=round_sig(length), unit=unit)
        return result
    area, perimeter = _area_and_perimeter(args.shape, pts)
    result.area = Quantity(value=round_sig(area), unit=f"{unit}²")
    result.perimeter = Quantity(value=round_sig(perimeter), unit=unit)
    rows, cols = _inside(args.shape, args.points, height, width)
    if image.channels == 1 and rows.size:
        inside = np.asarray(image.pixels[rows, cols], dtype=np.float64)
        result.values = ValueStats(
            mean=round_sig(float(inside.mean())),
            sd=round_sig(float(inside.std())),
            min=round_sig(float(inside.min())),
            max=round_sig(float(inside.max())),
            pixels=int(rows.size),
            units=image.units,
        )
    elif not rows.size:
        notes.append("the shape encloses no pixel centre, so no values were read")
    else:
        notes.append("colour image: no values are reported inside the area")
    return result
