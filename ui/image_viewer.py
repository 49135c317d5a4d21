"""Image viewer for radiology (2D, multi-frame, series): a FastAPI router and its page.

OpenSeadragon (already served for slides) shows server-rendered 512-pixel tiles of the
stored modality values, windowed as the person drags or types; zooming in shows the stored
pixels. The page has the habits of OHIF/Cornerstone: wheel zooms, a left drag adjusts the
window (or pans, or draws a ruler or an ellipse, as the toolbar says), values under the
cursor in modality units (HU on CT), frame scrolling, segmentation layers with opacity,
and a second image side by side with the same zoom, pan, window and frame offset.

A finished ruler or ellipse is posted back and runs the `measure` tool in the session, so
the model sees it and reports can cite it; the page tells its parent window, which reloads
the chat (`measured_listener_js`).

Routes (prefix ``/viewer``), every one through the `Assistant` façade::

    /{session}/{image}/page?with={other}     the viewer page (one or two images)
    /{session}/{image}/info?frame=N          size, frames, units, spacing, windows
    /{session}/{image}/f{N}/{level}/{col}_{row}.png?c=&w=&invert=   a windowed tile
    /{session}/{image}/value?x=&y=&frame=N   the stored value at a pixel
    /{session}/{image}/layers                segmentation layers; /layers/{n}.png the mask
    /{session}/{image}/measure               POST a shape: runs `measure`
"""

from __future__ import annotations

import asyncio
import html
import json
import math
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, HTTPException, Query
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, JSONResponse, Response
from PIL import Image
from pydantic import BaseModel, Field

from assistant.events import ToolFinished, TurnFailed
from assistant.service import Assistant
from tools.errors import InputError, MedAssistError, ToolArgumentError
from tools.imaging.pyramid import Plane
from tools.imaging.windowing import CT_PRESETS, Window
from tools.segmentation.outputs import mask_layer_png

__all__ = ["MEASURED_MESSAGE", "image_router", "image_viewer_html", "measured_listener_js"]

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
SessionId = Annotated[str, PathParam(pattern=_ID)]
ImageId = Annotated[str, PathParam(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")]
Frame = Annotated[int | None, Query(ge=1, description="Frame or slice, counted from 1")]
MEASURED_MESSAGE = "medassist-measured"
_PAGE = (Path(__file__).parent / "static" / "image_viewer.html").read_text(encoding="utf-8")
_NO_STORE = {"Cache-Control": "no-store"}

GetAssistant = Callable[[], Awaitable[Assistant]]


class Shape(BaseModel):
    """A ruler or an area drawn in the viewer (image pixels)."""

    shape: Literal["line", "ellipse", "polygon"]
    points: list[tuple[float, float]] = Field(min_length=2, max_length=500)
    frame: int | None = Field(default=None, ge=1)


def _fail(exc: Exception) -> HTTPException:
    """404 for an image that is not there, 422 for a request it cannot answer (a frame)."""
    return HTTPException(404 if isinstance(exc, (LookupError, InputError)) else 422, str(exc))


def _window(plane: Plane, c: float | None, w: float | None) -> Window | None:
    if c is None or w is None:
        return None
    if not (math.isfinite(c) and math.isfinite(w)) or w <= 0:
        raise HTTPException(422, "the window needs a finite center and a width above 0")
    return Window(c, w, "custom")


def _info(plane: Plane, name: str, image_id: str) -> dict[str, Any]:
    presets: dict[str, dict[str, float]] = {
        "auto": {"c": plane.window.center, "w": plane.window.width}
    }
    if not plane.colour:
        lo, hi = float(plane.values.min()), float(plane.values.max())
        presets["full"] = {"c": (lo + hi) / 2, "w": max(hi - lo, 1.0)}
        if plane.units == "HU":
            presets.update({k: {"c": v.center, "w": v.width} for k, v in CT_PRESETS.items()})
    spacing = plane.spacing
    return {
        "image_id": image_id,
        "name": name,
        "width": plane.width,
        "height": plane.height,
        "max_level": plane.max_level,
        "tile_size": 512,
        "frame": plane.frame + 1,
        "frames": plane.frames,
        "colour": plane.colour,
        "invert": plane.invert,
        "units": plane.units,
        "modality": plane.modality,
        "window": presets["auto"],
        "presets": presets,
        "spacing": None
        if spacing is None
        else {
            "row_mm": spacing.row_mm,
            "col_mm": spacing.col_mm,
            "source": spacing.source,
            "caveat": spacing.caveat,
        },
    }


def image_router(get_assistant: GetAssistant, prefix: str = "/viewer") -> APIRouter:
    """Return the viewer's router; `get_assistant` waits for the open Assistant."""
    router = APIRouter(prefix=prefix)

    async def plane_of(session_id: str, image_id: str, frame: int | None) -> Plane:
        assistant = await get_assistant()
        try:
            return await assistant.aplane(
                session_id, image_id, None if frame is None else frame - 1
            )
        except MedAssistError as exc:
            raise _fail(exc) from exc

    @router.get("/{session_id}/{image_id}/info")
    async def info(session_id: SessionId, image_id: ImageId, frame: Frame = None) -> JSONResponse:
        plane = await plane_of(session_id, image_id, frame)
        assistant = await get_assistant()
        name = assistant.attachments(session_id)[image_id].name
        return JSONResponse(_info(plane, name, image_id), headers=_NO_STORE)

    @router.get("/{session_id}/{image_id}/f{frame}/{level}/{col}_{row}.png")
    async def tile(
        session_id: SessionId,
        image_id: ImageId,
        frame: int,
        level: int,
        col: int,
        row: int,
        c: float | None = None,
        w: float | None = None,
        invert: bool = False,
    ) -> Response:
        plane = await plane_of(session_id, image_id, frame)
        window = _window(plane, c, w)
        try:
            data = await asyncio.to_thread(plane.tile, level, col, row, window, invert)
        except ToolArgumentError as exc:
            raise HTTPException(404, str(exc)) from exc
        return Response(
            data, media_type="image/png", headers={"Cache-Control": "private, max-age=600"}
        )

    @router.get("/{session_id}/{image_id}/value")
    async def value(
        session_id: SessionId, image_id: ImageId, x: float, y: float, frame: Frame = None
    ) -> JSONResponse:
        plane = await plane_of(session_id, image_id, frame)
        try:
            found = plane.value_at(x, y)
        except ToolArgumentError as exc:
            raise HTTPException(422, str(exc)) from exc
        body = {"x": math.floor(x), "y": math.floor(y), "value": found, "units": plane.units}
        return JSONResponse(body, headers=_NO_STORE)

    @router.get("/{session_id}/{image_id}/layers")
    async def layers(session_id: SessionId, image_id: ImageId) -> JSONResponse:
        assistant = await get_assistant()
        try:
            found = await assistant.layers(session_id, image_id)
        except MedAssistError as exc:
            raise _fail(exc) from exc
        body = [
            {
                "number": layer.number,
                "target": layer.target,
                "extent": layer.extent.model_dump(),
                "legend": [
                    {"text": text, "colour": "#{:02x}{:02x}{:02x}".format(*rgb)}
                    for text, rgb in layer.legend
                ],
                "url": f"{prefix}/{session_id}/{image_id}/layers/{layer.number}.png",
            }
            for layer in found
        ]
        return JSONResponse(body, headers=_NO_STORE)

    @router.get("/{session_id}/{image_id}/layers/{number}.png")
    async def layer_png(session_id: SessionId, image_id: ImageId, number: int) -> Response:
        assistant = await get_assistant()
        try:
            found = await assistant.layers(session_id, image_id)
        except MedAssistError as exc:
            raise _fail(exc) from exc
        layer = next((x for x in found if x.number == number), None)
        if layer is None:
            raise HTTPException(404, f"no segmentation layer {number} on {image_id}")
        data = await asyncio.to_thread(_layer_png, layer.mask, layer.instances)
        return Response(data, media_type="image/png", headers={"Cache-Control": "private"})

    @router.post("/{session_id}/{image_id}/measure")
    async def measure(session_id: SessionId, image_id: ImageId, shape: Shape) -> JSONResponse:
        assistant = await get_assistant()
        args = {"image_id": image_id, **shape.model_dump(exclude_none=True)}
        outcome: dict[str, Any] = {"status": "error", "message": "the measurement did not run"}
        async for event in assistant.run_tool(session_id, "measure", args):
            if isinstance(event, ToolFinished):
                outcome = {"status": event.status, "message": event.content}
                if event.status == "success":
                    outcome["result"] = json.loads(event.content)
            elif isinstance(event, TurnFailed):
                outcome = {"status": "error", "message": event.message}
        code = 200 if outcome["status"] == "success" else 422
        return JSONResponse(outcome, status_code=code, headers=_NO_STORE)

    @router.get("/{session_id}/{image_id}/page")
    async def page(
        session_id: SessionId,
        image_id: ImageId,
        with_: Annotated[str | None, Query(alias="with", pattern=_ID)] = None,
    ) -> HTMLResponse:
        assistant = await get_assistant()
        atts = assistant.attachments(session_id)
        for chosen in (image_id, with_):
            if chosen is not None and (chosen not in atts or atts[chosen].kind.is_slide):
                raise HTTPException(404, f"no image {chosen!r} to view in this session")
        shown = [image_id, *([with_] if with_ else [])]
        return HTMLResponse(viewer_page(session_id, shown, prefix))

    return router


def _layer_png(mask: Path, instances: bool) -> bytes:
    with Image.open(mask) as img:
        labels = np.asarray(img, dtype=np.int32)
    return mask_layer_png(labels, instances)


def viewer_page(session_id: str, image_ids: list[str], prefix: str = "/viewer") -> str:
    """The standalone viewer page for one image, or two side by side."""
    config = json.dumps(
        {
            "base": f"{prefix}/{session_id}",
            "session_id": session_id,
            "images": image_ids,
            "message": MEASURED_MESSAGE,
        }
    ).replace("<", "\\u003c")
    return (
        _PAGE.replace("__SCRIPT_SRC__", "/slides/static/openseadragon.min.js")
        .replace("__CONFIG__", config)
        .replace("__TITLE__", html.escape(" | ".join(image_ids)))
    )


def image_viewer_html(
    session_id: str, image_id: str, other: str | None = None, prefix: str = "/viewer",
    height: int = 620,
) -> str:  # fmt: skip
    """An iframe onto the viewer page, for a `gr.HTML` component."""
    query = f"?with={other}" if other else ""
    src = html.escape(f"{prefix}/{session_id}/{image_id}/page{query}", quote=True)
    return (
        f'<iframe src="{src}" title="Image viewer" allow="fullscreen" '
        f'style="width:100%;height:{int(height)}px;border:0"></iframe>'
    )


def measured_listener_js(field: str = "#measured textarea") -> str:
    """A ``<script>``: a measurement made in the viewer pokes the hidden field `field`.

    A change of that field makes the UI reload the chat, which now shows the tool step.
    """
    selector = json.dumps(field).replace("<", "\\u003c")
    return (
        "<script>\nwindow.addEventListener('message', (event) => {\n"
        "  const d = event.data;\n"
        f"  if (event.origin !== window.location.origin || !d || d.type !== "
        f"{json.dumps(MEASURED_MESSAGE)}) return;\n"
        f"  const field = document.querySelector({selector});\n"
        "  if (!field) return;\n"
        "  field.value = `${d.image_id} ${Date.now()}`;\n"
        "  field.dispatchEvent(new Event('input', {bubbles: true}));\n"
        "});\n</script>"
    )
