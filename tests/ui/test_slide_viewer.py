"""The slide viewer router: DZI, cached JPEG tiles, visits, the page and OpenSeadragon."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from assistant.errors import SessionNotFoundError
from tools.slides.deepzoom import TileServer
from tools.slides.opener import SlideCache
from tools.slides.synthetic import write_slide
from tools.slides.visits import Visit, record_visit
from ui.slide_viewer import SlideRef, slide_router, viewer_html


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
    record_visit(session, Visit(seq=0, kind="zoom", image_id="img1", x=10, y=20, width=300,
                                height=200))
    record_visit(session, Visit(seq=0, kind="zoom", image_id="img2", x=0, y=0, width=5, height=5))
    visits = client.get("/slides/s1/img1/visits").json()
    assert [(v["seq"], v["x"], v["width"]) for v in visits] == [(1, 10, 300)]
    page = client.get("/slides/s1/img1/viewer")
    assert page.status_code == 200
    assert '<script src="/slides/static/openseadragon.min.js">' in page.text
    assert '"dzi": "/slides/s1/img1.dzi"' in page.text and "medassist-slide-region" in page.text
    js = client.get("/slides/static/openseadragon.min.js")
    assert js.status_code == 200 and js.text.startswith("//! openseadragon 6.1.1")


def test_viewer_html_is_an_iframe() -> None:
    snippet = viewer_html("s1", "img1", height=400)
    assert snippet.startswith('<iframe src="/slides/s1/img1/viewer"') and "height:400px" in snippet
