"""The slide viewer's scale bar and magnification readout, measured in headless Chromium."""

from __future__ import annotations

import math
import re
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI

from tests.ui.conftest import shot
from tools.slides.deepzoom import TileServer
from tools.slides.opener import SlideCache
from tools.slides.synthetic import write_slide
from ui.slide_viewer import SlideRef, slide_router

pytestmark = pytest.mark.browser

NICE = {m * 10**k for m in (1, 2, 5) for k in range(-1, 6)} | {0.1, 0.2, 0.5}


def _tissue(height: int, width: int) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """Pink stripes and purple dots on white, so a screenshot shows zoom."""
    yy, xx = np.mgrid[:height, :width]
    base = np.full((height, width, 3), 248, np.uint8)
    base[(xx // 40 + yy // 40) % 2 == 0] = (236, 170, 200)
    base[((xx % 25) - 12) ** 2 + ((yy % 25) - 12) ** 2 < 20] = (110, 50, 140)
    return base


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Three slides over HTTP: 0.5 µm/px scanned at 20×, no mpp, and 10 µm/px."""
    folder = tmp_path_factory.mktemp("scale")
    base = _tissue(1200, 1800)
    slides = {
        "img1": write_slide(
            folder / "a.svs", base, layout="aperio", compression="jpeg", mpp=0.5, power=20.0
        ),
        "img2": write_slide(folder / "b.tif", base[:600, :900], mpp=None),
        "img3": write_slide(folder / "c.tif", base[:600, :900], mpp=10.0),
    }

    def resolve(session_id: str, image_id: str) -> SlideRef:
        return SlideRef(slides[image_id], folder / "session")

    tiles = TileServer(SlideCache())
    app = FastAPI()
    app.include_router(slide_router(resolve, tiles=tiles))

    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    tiles.slides.clear()


def _open(browser: Any, url: str) -> tuple[Any, list[str]]:
    page = browser.new_page(viewport={"width": 800, "height": 600})
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(url)
    page.wait_for_function(
        "() => window.medassistScale && viewer.world.getItemCount() === 1 && "
        "viewer.world.getItemAt(0).getFullyLoaded()",
        timeout=20_000,
    )
    return page, requests


_SETTLED = """() => {
  const vp = viewer.viewport, z = vp.getZoom(true);
  return Math.abs(z - vp.getZoom(false)) < 1e-9 * z && window.medassistScale &&
    Math.abs(window.medassistScale.imageZoom - vp.viewportToImageZoom(z)) < 1e-12;
}"""

_READ = """() => {
  const vp = viewer.viewport;
  const a = vp.imageToViewerElementCoordinates(new OpenSeadragon.Point(0, 0));
  const b = vp.imageToViewerElementCoordinates(new OpenSeadragon.Point(1000, 0));
  const bar = document.getElementById("scale-bar").getBoundingClientRect();
  const box = document.getElementById("scale").getBoundingClientRect();
  return {elementZoom: (b.x - a.x) / 1000, imageZoom: vp.viewportToImageZoom(vp.getZoom(true)),
          barWidth: bar.width, barVisible: bar.width > 0 && bar.height > 0,
          left: box.left, bottom: box.bottom, innerHeight: window.innerHeight,
          label: document.getElementById("scale-label").textContent,
          mag: document.getElementById("scale-mag").textContent,
          state: window.medassistScale, data: {...document.getElementById("scale").dataset}};
}"""


def _read(page: Any) -> dict[str, Any]:
    page.wait_for_function(_SETTLED, timeout=10_000)
    return dict(page.evaluate(_READ))


def _label_um(label: str) -> float:
    match = re.fullmatch(r"([0-9.]+) (µm|mm)", label)
    assert match, label
    return float(match[1]) * (1000 if match[2] == "mm" else 1)


def _mag_text(mag: float) -> str:
    return str(math.floor(mag + 0.5)) if mag >= 10 else f"{mag:.1f}"


def _check_bar(got: dict[str, Any], mpp: float) -> float:
    """The bar's width is label × imageZoom / mpp; returns the label in µm."""
    zoom = got["imageZoom"]
    assert got["elementZoom"] == pytest.approx(zoom, rel=1e-6)  # two ways, one answer
    um = _label_um(got["label"])
    assert um in NICE and got["state"]["um"] == pytest.approx(um)
    assert got["barVisible"] and abs(got["barWidth"] - um * zoom / mpp) <= 1
    assert 60 <= got["barWidth"] <= 161  # a 1-2-5 step fits between 64 and 160 px
    assert float(got["data"]["px"]) == pytest.approx(got["barWidth"], abs=1)
    assert got["left"] < 30 and got["innerHeight"] - got["bottom"] < 30  # bottom-left
    return um


def test_scale_bar_and_magnification_follow_the_zoom(served: str, browser: Any) -> None:
    page, requests = _open(browser, f"{served}/slides/s1/img1/viewer")
    try:
        mpp, labels = 0.5, []
        home = _read(page)
        labels.append(_check_bar(home, mpp))
        mag = 10 / (mpp / home["imageZoom"])
        assert home["state"]["mag"] == pytest.approx(mag)
        assert home["mag"] == f"≈ {_mag_text(mag)}× · scanned at 20×"

        osd = page.locator("#osd").bounding_box()
        page.mouse.move(osd["x"] + osd["width"] / 2, osd["y"] + osd["height"] / 2)
        for _ in range(6):  # the wheel, animated, as a user zooms
            page.mouse.wheel(0, -200)
            time.sleep(0.1)
        wheel = _read(page)
        assert wheel["imageZoom"] > 1.5 * home["imageZoom"]
        labels.append(_check_bar(wheel, mpp))
        assert wheel["mag"].startswith(f"≈ {_mag_text(10 * wheel['imageZoom'] / mpp)}×")

        page.evaluate("() => viewer.viewport.zoomTo(viewer.viewport.imageToViewportZoom(6))")
        close = _read(page)
        assert close["imageZoom"] == pytest.approx(6, rel=1e-6)
        labels.append(_check_bar(close, mpp))
        assert close["mag"] == "≈ 120× · scanned at 20×"  # 10 / (0.5 / 6)
        assert len(set(labels)) == 3, labels  # three zooms, three lengths
        shot(page, "slide_scale_bar")

        page.evaluate("() => viewer.viewport.zoomTo(viewer.viewport.imageToViewportZoom(0.15))")
        low = _read(page)
        assert 10 * low["imageZoom"] / mpp < 10
        assert low["mag"].startswith(f"≈ {10 * low['imageZoom'] / mpp:.1f}×")  # one decimal
        assert all(u.startswith("http://127.0.0.1:") for u in requests)  # loopback only
    finally:
        page.close()


def test_millimetres_from_1000_um(served: str, browser: Any) -> None:
    page, _ = _open(browser, f"{served}/slides/s1/img3/viewer")
    try:
        got = _read(page)
        _check_bar(got, 10.0)
        assert got["label"].endswith(" mm") and got["state"]["um"] >= 1000
        assert "scanned" not in got["mag"]  # no objective power on this slide
        assert page.evaluate("() => niceScale(5, 160)") == {"um": 500, "px": 100, "label": "500 µm"}
        assert page.evaluate("() => niceScale(0.004, 160).label") == "0.5 µm"
        assert page.evaluate("() => niceScale(70, 160).label") == "10 mm"
    finally:
        page.close()


def test_unknown_mpp_says_so_instead_of_a_bar(served: str, browser: Any) -> None:
    page, _ = _open(browser, f"{served}/slides/s1/img2/viewer")
    try:
        page.wait_for_function(
            "() => document.getElementById('scale-label').textContent", timeout=5_000
        )
        got = page.evaluate(_READ)
        assert got["label"] == "no scale (microns per pixel unknown)"
        assert not got["barVisible"] and got["state"]["um"] is None
        assert got["state"]["mag"] is None and got["mag"] == ""
        shot(page, "slide_scale_unknown")
    finally:
        page.close()
