"""Deep-zoom slide viewer: a FastAPI router serving DZI tiles, visits and an OpenSeadragon page.

Mount it into the Gradio app (Gradio apps are FastAPI apps)::

    app.include_router(slide_router(resolve))           # resolve(session_id, image_id) -> SlideRef
                                                        # e.g. partial(resolve_slide, assistant)
    gr.HTML(viewer_html(session_id, image_id))          # an iframe onto the viewer page
    gr.Blocks(head=region_listener_js())                # a drawn box: question + JSON field

The viewer draws the regions the agent visited, numbered in order, a scale bar and the
equivalent magnification (from the slide's microns per pixel, ``GET .../scale``), and lets
the user draw a box; the box's level-0 coordinates are shown and posted to the parent window as
``{"type": "medassist-slide-region", "session_id", "image_id", "x", "y", "width", "height"}``.
"""

from __future__ import annotations

import asyncio
import html
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Protocol

from fastapi import APIRouter, HTTPException
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from tools.attachments import Attachment
from tools.errors import InputError, MedAssistError
from tools.slides.deepzoom import TileServer
from tools.slides.visits import list_visits

STATIC_DIR = Path(__file__).parent / "static" / "openseadragon"
_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
SessionId = Annotated[str, PathParam(pattern=_ID)]
ImageIdParam = Annotated[str, PathParam(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")]


@dataclass(frozen=True)
class SlideRef:
    """Where a session's slide lives: the file, and the session folder holding its visits."""

    path: Path
    session_dir: Path


SlideResolver = Callable[[str, str], SlideRef]
"""Maps (session_id, image_id) to a SlideRef; raises LookupError or MedAssistError if unknown."""


class _Sessions(Protocol):
    def attachments(self, session_id: str) -> Mapping[str, Attachment]: ...

    def session_dir(self, session_id: str) -> Path: ...


def resolve_slide(sessions: _Sessions, session_id: str, image_id: str) -> SlideRef:
    """The slide `image_id` of a session (the `Assistant` façade serves as `sessions`)."""
    attachment = sessions.attachments(session_id)[image_id]
    return SlideRef(attachment.path, sessions.session_dir(session_id))


def _lookup(resolve: SlideResolver, session_id: str, image_id: str) -> SlideRef:
    try:
        return resolve(session_id, image_id)
    except (LookupError, MedAssistError) as exc:
        raise HTTPException(404, f"no slide {image_id!r} in session {session_id!r}") from exc


def slide_scale(server: TileServer, path: Path) -> dict[str, float | None]:
    """The slide's level-0 microns per pixel and stated objective power: numbers only.

    Values come from the reader (`Slide.mpp`, `Slide.objective_power`: OpenSlide's
    ``openslide.mpp-x``/``mpp-y``/``objective-power``, OME or TIFF resolution otherwise),
    implausible resolutions already dropped. None where the slide does not say. Opens the
    slide (blocking I/O): call it off the event loop.
    """
    slide = server.slides.get(path)
    mpp = slide.mpp
    return {
        "mpp_x": mpp[0] if mpp else None,
        "mpp_y": mpp[1] if mpp else None,
        "objective_power": slide.objective_power,
    }


def slide_router(
    resolve: SlideResolver,
    prefix: str = "/slides",
    tiles: TileServer | None = None,
    layers_prefix: str | None = None,
) -> APIRouter:
    """Return the router: DZI, tiles, scale, visits, the viewer page and OpenSeadragon.

    `layers_prefix` is where the image viewer's routes serve segmentation layers
    (``{layers_prefix}/{session}/{image}/layers``); None: the page shows none.
    """
    server = tiles or TileServer()
    router = APIRouter(prefix=prefix)

    @router.get("/static/openseadragon.min.js")
    async def openseadragon_js() -> FileResponse:
        return FileResponse(
            STATIC_DIR / "openseadragon.min.js",
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    @router.get("/{session_id}/{image_id}.dzi")
    async def dzi(session_id: SessionId, image_id: ImageIdParam) -> Response:
        ref = _lookup(resolve, session_id, image_id)
        try:
            xml = await asyncio.to_thread(server.dzi, ref.path)
        except InputError as exc:
            raise HTTPException(422, str(exc)) from exc
        return Response(xml, media_type="application/xml")

    @router.get("/{session_id}/{image_id}_files/{level}/{col}_{row}.jpeg")
    async def tile(
        session_id: SessionId, image_id: ImageIdParam, level: int, col: int, row: int
    ) -> Response:
        ref = _lookup(resolve, session_id, image_id)
        data = server.cached_tile(ref.path, level, col, row)
        if data is None:
            try:
                data = await asyncio.to_thread(server.tile, ref.path, level, col, row)
            except ValueError as exc:  # DeepZoomGenerator: invalid level or address
                raise HTTPException(404, f"no tile {level}/{col}_{row}: {exc}") from exc
            except InputError as exc:
                raise HTTPException(422, str(exc)) from exc
        return Response(
            data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"}
        )

    @router.get("/{session_id}/{image_id}/scale")
    async def scale(session_id: SessionId, image_id: ImageIdParam) -> JSONResponse:
        ref = _lookup(resolve, session_id, image_id)
        try:
            values = await asyncio.to_thread(slide_scale, server, ref.path)
        except InputError as exc:
            raise HTTPException(422, str(exc)) from exc
        return JSONResponse(values, headers={"Cache-Control": "private, max-age=3600"})

    @router.get("/{session_id}/{image_id}/visits")
    async def visits(session_id: SessionId, image_id: ImageIdParam) -> JSONResponse:
        ref = _lookup(resolve, session_id, image_id)
        records = list_visits(ref.session_dir, image_id)
        return JSONResponse([v.model_dump(exclude_none=True) for v in records])

    @router.get("/{session_id}/{image_id}/viewer")
    async def viewer(session_id: SessionId, image_id: ImageIdParam) -> HTMLResponse:
        _lookup(resolve, session_id, image_id)
        return HTMLResponse(viewer_page(session_id, image_id, prefix, layers_prefix))

    return router


def viewer_html(session_id: str, image_id: str, prefix: str = "/slides", height: int = 560) -> str:
    """Return an iframe onto the viewer page, for a `gr.HTML` component."""
    src = html.escape(f"{prefix}/{session_id}/{image_id}/viewer", quote=True)
    return (
        f'<iframe src="{src}" title="Slide viewer" '
        f'style="width:100%;height:{int(height)}px;border:0" loading="lazy"></iframe>'
    )


def region_listener_js(
    textarea: str = "#message textarea", region_field: str = "#drawn-region textarea"
) -> str:
    """Return a ``<script>`` for ``gr.Blocks(head=...)``: a drawn box becomes a question.

    The viewer posts the box to its parent window; this puts the box, as JSON
    ``{"image_id", "box": {x, y, width, height}}``, into the hidden field `region_field`
    (sent with the message as structured data) and a question about it into the chat box.
    """

    def quoted(selector: str) -> str:
        return json.dumps(selector).replace("<", "\\u003c")

    return _LISTENER.replace("__SELECTOR__", quoted(textarea)).replace(
        "__REGION__", quoted(region_field)
    )


_LISTENER = """<script>
window.addEventListener("message", (event) => {
  const d = event.data;
  if (event.origin !== window.location.origin || !d || d.type !== "medassist-slide-region") return;
  const box = document.querySelector(__SELECTOR__);
  const field = document.querySelector(__REGION__);
  if (!box || !field) return;
  const drawn = {x: d.x, y: d.y, width: d.width, height: d.height};
  field.value = JSON.stringify({image_id: d.image_id, box: drawn});
  field.dispatchEvent(new Event("input", {bubbles: true}));
  box.value = `What do you see in the region I drew on slide ${d.image_id} ` +
    `(x=${d.x}, y=${d.y}, width=${d.width}, height=${d.height}, level-0 pixels)?`;
  box.dispatchEvent(new Event("input", {bubbles: true}));
  box.focus();
});
</script>"""


def viewer_page(
    session_id: str, image_id: str, prefix: str = "/slides", layers_prefix: str | None = None
) -> str:
    """Return the standalone viewer page (OpenSeadragon, visits, scale bar, box drawing).

    With `layers_prefix` it also draws the slide's segmentation layers.
    """
    layers = f"{layers_prefix}/{session_id}/{image_id}/layers" if layers_prefix else None
    config = json.dumps(
        {
            "dzi": f"{prefix}/{session_id}/{image_id}.dzi",
            "visits": f"{prefix}/{session_id}/{image_id}/visits",
            "scale": f"{prefix}/{session_id}/{image_id}/scale",
            "layers": layers,
            "session_id": session_id,
            "image_id": image_id,
        }
    ).replace("<", "\\u003c")
    script_src = html.escape(f"{prefix}/static/openseadragon.min.js", quote=True)
    return (
        _PAGE.replace("__SCRIPT_SRC__", script_src)
        .replace("__CONFIG__", config)
        .replace("__TITLE__", html.escape(image_id))
    )


_PAGE = (Path(__file__).parent / "static" / "slide_viewer.html").read_text(encoding="utf-8")
