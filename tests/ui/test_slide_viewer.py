"""The slide viewer router: DZI, cached JPEG tiles, visits, the page and OpenSeadragon."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient
from PIL import Image

from tests.ui.conftest import drag_box
from tools.errors import SessionNotFoundError
from tools.slides.deepzoom import TileServer
from tools.slides.opener import SlideCache
from tools.slides.synthetic import write_slide
from tools.slides.visits import Visit, record_visit
from ui.slide_viewer import (
    SlideRef,
    region_listener_js,
    slide_router,
    slide_scale,
    viewer_html,
)


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[TestClient, TileServer, Path]]:
    base = np.full((600, 900, 3), 255, np.uint8)
    base[:300, :450] = (200, 30, 30)  # red top-left quarter
    slide = write_slide(tmp_path / "s.svs", base, layout="aperio", compression="jpeg")
    session = tmp_path / "session"

    def resolve(session_id: str, image_id: str) -> SlideRef:
        if session_id != "s1":
            raise SessionNotFoundError(session_id)
        if image_id != "img1":
            raise KeyError(image_id)
        return SlideRef(slide, session)

    tiles = TileServer(SlideCache(), tile_size=254, overlap=1)
    app = FastAPI()
    app.include_router(slide_router(resolve, tiles=tiles))

    @app.get("/chat")
    async def chat() -> HTMLResponse:  # stands in for the Gradio page embedding the viewer
        return HTMLResponse(
            f"<html><head>{region_listener_js('#message textarea')}</head><body>"
            f'<div id="message"><textarea></textarea></div>'
            f'<div id="drawn-region"><textarea></textarea></div>{viewer_html("s1", "img1")}'
            "</body></html>"
        )

    yield TestClient(app), tiles, session
    tiles.slides.clear()


def test_dzi_and_tiles(setup: tuple[TestClient, TileServer, Path]) -> None:
    client, tiles, _ = setup
    dzi = client.get("/slides/s1/img1.dzi")
    assert dzi.status_code == 200 and 'Width="900" Height="600"' in dzi.text
    assert 'TileSize="254" Overlap="1" Format="jpeg"' in dzi.text
    top = client.get("/slides/s1/img1_files/10/0_0.jpeg")  # level 10 = full resolution
    assert top.status_code == 200 and top.headers["content-type"] == "image/jpeg"
    image = Image.open(io.BytesIO(top.content))
    assert image.size == (255, 255)  # tile plus its one-pixel overlap
    assert np.abs(np.asarray(image)[100, 100].astype(int) - (200, 30, 30)).max() <= 15
    slide_path = setup[2].parent / "s.svs"
    assert tiles.cached_tile(slide_path, 10, 0, 0) == top.content  # kept for the next request
    assert client.get("/slides/s1/img1_files/10/0_0.jpeg").content == top.content
    whole = Image.open(io.BytesIO(client.get("/slides/s1/img1_files/0/0_0.jpeg").content))
    assert whole.size == (1, 1)


def test_bad_addresses_and_unknown_ids(setup: tuple[TestClient, TileServer, Path]) -> None:
    client, _, _ = setup
    assert client.get("/slides/s1/img1_files/10/99_0.jpeg").status_code == 404
    assert client.get("/slides/s1/img1_files/42/0_0.jpeg").status_code == 404
    assert client.get("/slides/s2/img1.dzi").status_code == 404
    assert client.get("/slides/s1/img9.dzi").json()["detail"] == "no slide 'img9' in session 's1'"
    assert client.get("/slides/s1/..%2Fetc.dzi").status_code == 404


def test_visits_and_viewer_page(setup: tuple[TestClient, TileServer, Path]) -> None:
    client, _, session = setup
    assert client.get("/slides/s1/img1/visits").json() == []
    record_visit(
        session, Visit(seq=0, kind="zoom", image_id="img1", x=10, y=20, width=300, height=200)
    )
    record_visit(session, Visit(seq=0, kind="zoom", image_id="img2", x=0, y=0, width=5, height=5))
    visits = client.get("/slides/s1/img1/visits").json()
    assert [(v["seq"], v["x"], v["width"]) for v in visits] == [(1, 10, 300)]
    page = client.get("/slides/s1/img1/viewer")
    assert page.status_code == 200
    assert '<script src="/slides/static/openseadragon.min.js">' in page.text
    assert '"dzi": "/slides/s1/img1.dzi"' in page.text and "medassist-slide-region" in page.text
    js = client.get("/slides/static/openseadragon.min.js")
    assert js.status_code == 200 and js.text.startswith("//! openseadragon 6.1.1")


def test_scale_gives_the_numbers_only(
    setup: tuple[TestClient, TileServer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    import ui.slide_viewer as module

    client, _, _ = setup
    loops: list[bool] = []

    def scale_off_loop(server: TileServer, path: Path) -> dict[str, float | None]:
        try:
            asyncio.get_running_loop()
            loops.append(True)
        except RuntimeError:  # a worker thread: no event loop here
            loops.append(False)
        return slide_scale(server, path)

    monkeypatch.setattr(module, "slide_scale", scale_off_loop)
    res = client.get("/slides/s1/img1/scale")
    assert res.status_code == 200 and loops == [False]
    # The Aperio description says "AppMag = 20|MPP = 0.5"; nothing else of it is sent.
    assert res.json() == {"mpp_x": 0.5, "mpp_y": 0.5, "objective_power": 20.0}
    assert "Aperio" not in res.text and "synthetic" not in res.text
    assert client.get("/slides/s2/img1/scale").status_code == 404
    assert client.get("/slides/s1/img9/scale").status_code == 404
    page = client.get("/slides/s1/img1/viewer").text
    assert '"scale": "/slides/s1/img1/scale"' in page and 'id="scale-bar"' in page


@pytest.mark.parametrize(
    ("layout", "mpp", "expected"),
    [
        ("generic", 0.25, {"mpp_x": 0.25, "mpp_y": 0.25, "objective_power": None}),
        ("generic", None, {"mpp_x": None, "mpp_y": None, "objective_power": None}),
        ("ome", 0.25, {"mpp_x": 0.25, "mpp_y": 0.25, "objective_power": None}),  # tifffile
        ("aperio", None, {"mpp_x": None, "mpp_y": None, "objective_power": 20.0}),
    ],
)
def test_slide_scale_per_layout(
    tmp_path: Path, layout: str, mpp: float | None, expected: dict[str, float | None]
) -> None:
    base = np.full((300, 400, 3), 240, np.uint8)
    path = write_slide(tmp_path / "s.tif", base, layout=layout, mpp=mpp)  # type: ignore[arg-type]
    tiles = TileServer(SlideCache())
    try:
        assert slide_scale(tiles, path) == expected
    finally:
        tiles.slides.clear()


def test_scale_of_an_unreadable_slide_is_422(tmp_path: Path) -> None:
    junk = tmp_path / "junk.svs"
    junk.write_bytes(b"not a slide at all")
    app = FastAPI()
    app.include_router(
        slide_router(lambda s, i: SlideRef(junk, tmp_path), tiles=TileServer(SlideCache()))
    )
    assert TestClient(app).get("/slides/s1/img1/scale").status_code == 422


def test_viewer_html_is_an_iframe() -> None:
    snippet = viewer_html("s1", "img1", height=400)
    assert snippet.startswith('<iframe src="/slides/s1/img1/viewer"') and "height:400px" in snippet


@pytest.fixture
def live_viewer(setup: tuple[TestClient, TileServer, Path]) -> Iterator[str]:
    """The router served over HTTP by uvicorn in a thread; yields the base URL."""
    import socket
    import threading
    import time

    import uvicorn

    client, _, _ = setup
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(client.app, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.mark.browser
def test_viewer_in_chromium_draws_visits_and_boxes(
    live_viewer: str, browser: Any, setup: tuple[TestClient, TileServer, Path]
) -> None:
    _, tiles, session = setup
    for x, y in ((20, 30), (500, 320)):
        record_visit(
            session, Visit(seq=0, kind="zoom", image_id="img1", x=x, y=y, width=200, height=150)
        )
    page = browser.new_page(viewport={"width": 800, "height": 600})
    try:
        page.goto(f"{live_viewer}/slides/s1/img1/viewer")
        page.wait_for_selector(".visit", timeout=20_000)
        assert page.locator(".visit span").all_inner_texts() == ["1", "2"]
        page.wait_for_function(
            "() => viewer.world.getItemCount() === 1 && viewer.world.getItemAt(0).getFullyLoaded()",
            timeout=20_000,
        )
        loaded = page.evaluate(
            "() => performance.getEntriesByType('resource').map(e => e.name)"
            ".filter(n => n.includes('/slides/s1/img1_files/'))"
        )
        assert loaded and all(n.endswith(".jpeg") for n in loaded)
        level, col_row = loaded[-1].split("_files/")[1].removesuffix(".jpeg").split("/")
        col, row = (int(v) for v in col_row.split("_"))
        assert tiles.cached_tile(session.parent / "s.svs", int(level), col, row) is not None
        page.evaluate(
            "() => { window.got = null; "
            "window.addEventListener('message', e => { window.got = e.data; }); }"
        )
        page.click("#select")
        drag_box(page, page.locator("#osd"), (0.3, 0.3), (120, 80))
        page.wait_for_function("() => window.got !== null", timeout=5_000)
        got = page.evaluate("() => window.got")
        assert got["type"] == "medassist-slide-region" and got["image_id"] == "img1"
        assert 0 < got["x"] < 900 and 0 < got["y"] < 600 and got["width"] > 50
        assert page.inner_text("#region").startswith(f"x={got['x']}, y={got['y']}")
    finally:
        page.close()


@pytest.mark.browser
def test_box_drawn_in_the_embedded_viewer_fills_the_region_field_and_the_chat_box(
    live_viewer: str, browser: Any
) -> None:
    page = browser.new_page(viewport={"width": 900, "height": 800})
    try:
        page.goto(f"{live_viewer}/chat")
        frame = page.frame_locator("iframe")
        frame.get_by_text("region(s) visited by the agent").wait_for(timeout=20_000)
        frame.locator("#select").click()
        drag_box(page, page.locator("iframe"), (0.4, 0.4), (100, 60))
        page.wait_for_function(
            "() => document.querySelector('#message textarea').value.length > 0", timeout=5_000
        )
        drawn = json.loads(page.input_value("#drawn-region textarea"))
        assert drawn["image_id"] == "img1" and set(drawn["box"]) == {"x", "y", "width", "height"}
        assert drawn["box"]["width"] > 10 and drawn["box"]["height"] > 10
        question = page.input_value("#message textarea")
        assert question.startswith("What do you see in the region I drew on slide img1")
        assert f"width={drawn['box']['width']}" in question
    finally:
        page.close()
