"""The image viewer in Chromium: window/level by drag and by typing, the value under the
cursor against pydicom, a ruler in mm, an ellipse's HU, frames, side by side, and a
measurement joining the conversation as a tool step."""

from __future__ import annotations

import asyncio
import io
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.pixels.processing import apply_modality_lut
from pydicom.uid import ExplicitVRLittleEndian

from assistant.config import AppConfig, load_config
from assistant.events import ToolFinished
from assistant.service import Assistant
from assistant.testing import DeadChatModel
from tests.tools.imaging.factory import ct_phantom, make_dataset, write
from tests.ui.conftest import serve_ui, shot
from tests.vllm_servers import free_port
from tools.slides.synthetic import write_slide

pytestmark = [pytest.mark.browser]

SPACING = (0.5, 0.8)
SLIDE_BOX = {
    "x": 256,
    "y": 128,
    "width": 640,
    "height": 512,
}  # row, column (mm): not square, so a wrong axis shows


def _ct(tmp_path: Path) -> Path:
    """A 300×360 CT slice (so the viewer has a pyramid) with known spacing and HU."""
    stored = ct_phantom(300, 360)
    stored[:, :8] += np.arange(300, dtype=np.int16)[:, None]  # a ramp: every row differs
    return write(make_dataset(stored, spacing=SPACING), tmp_path / "ct.dcm", ExplicitVRLittleEndian)


def _series_frames(tmp_path: Path) -> Path:
    """A 3-frame CT (each frame a different constant offset)."""
    base = ct_phantom(64, 64)
    frames = np.stack([base + 100 * i for i in range(3)]).astype(np.int16)
    ds = make_dataset(frames, frames=3, spacing=(1.0, 1.0))
    return write(ds, tmp_path / "multi.dcm", ExplicitVRLittleEndian)


def _prepare(config: AppConfig, files: list[Path]) -> str:
    """A session with the files; the CT and the slide are segmented (layers for the viewers)."""

    async def run() -> str:
        async with Assistant(config, model=DeadChatModel()) as assistant:
            session = assistant.new_session("viewer").id
            for path in files:
                assistant.add_upload(session, path)
            for image_id, more in (("img1", {}), ("img3", {"box": SLIDE_BOX})):
                args = {"image_id": image_id, "target": "tissue", **more}
                events = [e async for e in assistant.run_tool(session, "segment", args)]
                ok = [e for e in events if isinstance(e, ToolFinished) and e.status == "success"]
                assert ok, events
            return session

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result(120)


@pytest.fixture(scope="module")
def viewer_app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("viewer")
    config = load_config(
        {"data_dir": str(tmp / "data"), "llm": {"base_url": "http://127.0.0.1:9/v1"}}
    )
    ct, multi = _ct(tmp), _series_frames(tmp)
    tissue = np.full((768, 1024, 3), 240, np.uint8)
    tissue[200:600, 300:800] = (150, 60, 140)  # a stained block on glass
    slide = write_slide(tmp / "s.svs", tissue, layout="aperio", mpp=0.5)
    session = _prepare(config, [ct, multi, slide])
    port = free_port()
    demo = serve_ui(config, port)
    try:
        yield {"base": f"http://127.0.0.1:{port}", "session": session, "ct": ct, "config": config}
    finally:
        demo.close()


def _open(browser: Any, url: str, size: tuple[int, int] = (900, 700)) -> Any:
    page = browser.new_page(viewport={"width": size[0], "height": size[1]})
    page.goto(url)
    page.wait_for_function("() => document.body.dataset.ready === '1'", timeout=60_000)
    _wait_rendered(page)
    return page


def _wait_rendered(page: Any) -> None:
    page.wait_for_function(
        "() => window.medassist.loads === 0 && window.medassist.panes.every(p => p.base "
        "&& p.layersFetched && p.layers.every(l => l.item && l.item.getFullyLoaded()))",
        timeout=60_000,
    )


def _canvas_pixels(page: Any, pane: int = 0) -> np.ndarray:
    """The pane's pixels as drawn, less a 4-pixel rim (where a focus ring may be drawn) and
    the navigator (the overview in its corner redraws on a timer of its own: one run of the
    module compared the same window, typed and preset, and differed only there).

    OpenSeadragon draws in animation frames, after the tiles it reports loaded: the pixels
    are read once two shots a couple of frames apart agree, so a comparison never meets a
    frame drawn half-way (one CI run compared a rendering against a frame not yet redrawn).
    """

    def grab() -> np.ndarray:
        osd = page.locator(".pane .osd").nth(pane)
        png = osd.screenshot(mask=[osd.locator("[id^='navigator-']")])
        return np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.int16)[4:-4, 4:-4]

    shown = grab()
    for _ in range(20):
        page.evaluate(
            "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
        )
        again = grab()
        if np.array_equal(again, shown):
            return shown
        shown = again
    raise AssertionError("the viewer kept redrawing: no two shots agreed")


def _screen_of(page: Any, x: float, y: float, pane: int = 0) -> tuple[float, float]:
    """Page coordinates of image pixel (x, y)."""
    point = page.evaluate(
        """([i, x, y]) => { const p = window.medassist.panes[i];
             const s = p.base.imageToViewerElementCoordinates(new OpenSeadragon.Point(x, y));
             const r = p.viewer.element.getBoundingClientRect();
             return [r.left + s.x, r.top + s.y]; }""",
        [pane, x, y],
    )
    return float(point[0]), float(point[1])


def test_window_by_drag_and_by_typing(browser: Any, viewer_app: dict[str, Any]) -> None:
    requested: list[str] = []
    page = browser.new_page(viewport={"width": 900, "height": 700})
    page.on("request", lambda r: requested.append(r.url))
    page.goto(f"{viewer_app['base']}/viewer/{viewer_app['session']}/img1/page")
    page.wait_for_function("() => document.body.dataset.ready === '1'", timeout=60_000)
    _wait_rendered(page)
    # The file's window opens first (C 40 W 400), with the HU presets offered.
    assert page.input_value("#center") == "40" and page.input_value("#width") == "400"
    options = page.locator("#preset option").all_inner_texts()
    assert any(o.startswith("lung") for o in options), options
    before = _canvas_pixels(page)
    # A drag with the W/L tool changes the window and the rendered pixels.
    osd = page.locator(".pane .osd").first.bounding_box()
    cx, cy = osd["x"] + osd["width"] / 2, osd["y"] + osd["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx + 120, cy + 60, steps=6)
    page.mouse.up()
    _wait_rendered(page)
    center, width = float(page.input_value("#center")), float(page.input_value("#width"))
    assert center > 40 and width > 400, (center, width)
    after = _canvas_pixels(page)
    assert np.abs(after - before).mean() > 2, "the drag did not change the rendered image"
    shot(page, "viewer-ct-dragged")
    # The lung preset, then the same window typed: identical renderings.
    page.select_option("#preset", "lung")
    _wait_rendered(page)
    preset = _canvas_pixels(page)
    page.select_option("#preset", "auto")
    _wait_rendered(page)
    page.fill("#center", "-600")
    page.fill("#width", "1500")
    page.locator("#width").press("Enter")
    page.wait_for_function(
        "() => document.querySelector('.pane').dataset.rendered.includes('-600,1500')"
    )
    _wait_rendered(page)
    typed = _canvas_pixels(page)
    assert np.array_equal(preset, typed)
    assert np.abs(typed - after).mean() > 2  # and lung differs from the dragged window
    # Everything the page loaded came from this server: no CDN, no outside request.
    assert requested and all(u.startswith(viewer_app["base"]) for u in requested), requested
    page.close()


def test_value_under_cursor_is_the_modality_value(browser: Any, viewer_app: dict[str, Any]) -> None:
    page = _open(browser, f"{viewer_app['base']}/viewer/{viewer_app['session']}/img1/page")
    hu = apply_modality_lut(
        pydicom.dcmread(viewer_app["ct"]).pixel_array, pydicom.dcmread(viewer_app["ct"])
    )
    for x, y in ((4.5, 200.5), (180.5, 150.5), (120.5, 150.5)):
        page.mouse.move(*_screen_of(page, x, y))
        page.wait_for_function(
            "([x, y]) => { const v = window.medassist.lastValue; "
            "return v && v.x === x && v.y === y; }",
            arg=[int(x), int(y)],
            timeout=20_000,
        )
        value = page.evaluate("() => window.medassist.lastValue")
        assert value["value"] == pytest.approx(float(hu[int(y), int(x)])), (x, y, value)
        assert value["units"] == "HU"
        status = page.locator(".pane .status").inner_text()
        assert f"x {int(x)}, y {int(y)}" in status and "HU" in status, status
    page.close()


def test_ruler_and_ellipse_measure_in_mm_and_join_the_chat(
    browser: Any, viewer_app: dict[str, Any]
) -> None:
    session, base = viewer_app["session"], viewer_app["base"]
    page = _open(browser, f"{base}/viewer/{session}/img1/page")
    page.locator("[data-mode=line]").click()
    # 100 columns across: 100 × 0.8 mm = 80 mm; then 100 rows down: 100 × 0.5 mm = 50 mm.
    for (x0, y0), (x1, y1), mm in (((100, 40), (200, 40), 80.0), ((300, 100), (300, 200), 50.0)):
        page.mouse.move(*_screen_of(page, x0, y0))
        page.mouse.down()
        page.mouse.move(*_screen_of(page, x1, y1), steps=5)
        page.mouse.up()
        page.wait_for_function(
            "() => window.medassist.lastMeasure && window.medassist.lastMeasure.length "
            "&& document.querySelector('#message').textContent.includes('added')",
            timeout=30_000,
        )
        result = page.evaluate("() => window.medassist.lastMeasure")
        assert result["length"]["unit"] == "mm"
        # The screen maps to image pixels within a fraction of a pixel at this zoom.
        assert result["length"]["value"] == pytest.approx(mm, abs=1.0), result
        page.evaluate("() => { window.medassist.lastMeasure = null; }")
    labels = page.evaluate(
        "() => [...document.querySelectorAll('text.measure-label')].map(t => t.textContent)"
    )
    assert any("mm" in t for t in labels), labels
    # An ellipse inside the water disc (0 HU) reports its area and mean HU.
    page.locator("[data-mode=ellipse]").click()
    page.mouse.move(*_screen_of(page, 170, 130))
    page.mouse.down()
    page.mouse.move(*_screen_of(page, 200, 170), steps=5)
    page.mouse.up()
    page.wait_for_function(
        "() => window.medassist.lastMeasure && window.medassist.lastMeasure.area", timeout=30_000
    )
    ellipse = page.evaluate("() => window.medassist.lastMeasure")
    assert ellipse["values"]["units"] == "HU" and abs(ellipse["values"]["mean"]) < 1
    expected = np.pi * (15 * SPACING[1]) * (20 * SPACING[0])
    assert ellipse["area"]["value"] == pytest.approx(expected, rel=0.05)
    shot(page, "viewer-ct-measured")
    page.close()
    # The measurements are steps of the conversation, as the model and reports see them.
    config = viewer_app["config"]

    async def steps() -> list[dict[str, Any]]:
        async with Assistant(config, model=DeadChatModel()) as assistant:
            history = await assistant.history(session)
        return [
            json.loads(str(m.content)) for m in history if getattr(m, "name", None) == "measure"
        ]

    with ThreadPoolExecutor(1) as pool:
        found = pool.submit(asyncio.run, steps()).result(60)
    assert [s["shape"] for s in found[-3:]] == ["line", "line", "ellipse"]
    assert found[-3]["length"]["value"] == pytest.approx(80.0, abs=1.0)


def test_frames_and_side_by_side(browser: Any, viewer_app: dict[str, Any]) -> None:
    session, base = viewer_app["session"], viewer_app["base"]
    page = _open(browser, f"{base}/viewer/{session}/img2/page?with=img1", size=(1200, 700))
    assert page.locator(".pane").count() == 2
    assert not page.locator("#frame-group").is_hidden()
    assert page.inner_text("#frame-text") == "1 / 3"
    page.locator("#next").click()
    page.wait_for_function("() => window.medassist.panes[0].frame === 2")
    _wait_rendered(page)
    point = _screen_of(page, 32.5, 32.5)
    page.mouse.move(*point)
    page.wait_for_function(
        "() => { const v = window.medassist.lastValue; return v && v.frame === 2 && v.x === 32; }",
        timeout=20_000,
    )
    # Frame 2 stores phantom + 100: the water disc's centre reads 100 HU.
    assert page.evaluate("() => window.medassist.lastValue.value") == pytest.approx(100.0)
    # Zooming one pane zooms the other the same way.
    page.evaluate("() => window.medassist.panes[0].viewer.viewport.zoomTo(3, null, true)")
    page.wait_for_timeout(300)
    zooms = page.evaluate("() => window.medassist.panes.map(p => p.viewer.viewport.getZoom(true))")
    assert zooms[0] == pytest.approx(zooms[1], rel=1e-3) and zooms[0] == pytest.approx(3, rel=0.01)
    shot(page, "viewer-side-by-side")
    page.close()


def test_viewer_routes_refuse_what_is_not_there(viewer_app: dict[str, Any]) -> None:
    base, session = viewer_app["base"], viewer_app["session"]
    with httpx.Client(base_url=base, timeout=30) as client:
        assert client.get(f"/viewer/{session}/img9/info").status_code == 404
        assert client.get("/viewer/nosuchsession/img1/info").status_code == 404
        info = client.get(f"/viewer/{session}/img1/info").json()
        assert info["spacing"]["row_mm"] == SPACING[0] and info["max_level"] == 9
        assert client.get(f"/viewer/{session}/img1/f1/9/5_0.png").status_code == 404
        assert client.get(f"/viewer/{session}/img1/f7/9/0_0.png").status_code == 422
        bad = client.get(f"/viewer/{session}/img1/f1/9/0_0.png", params={"c": 0, "w": -5})
        assert bad.status_code == 422
        outside = client.post(
            f"/viewer/{session}/img1/measure",
            json={"shape": "line", "points": [[0, 0], [9999, 0]]},
        )
        assert outside.status_code == 422 and "outside" in outside.json()["message"]


def test_a_ruler_in_the_app_shows_as_a_tool_step_in_the_chat(
    browser: Any, viewer_app: dict[str, Any]
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1500})
    page.goto(viewer_app["base"] + "/")
    page.wait_for_selector("#message textarea")
    page.locator("#sessions input").click()
    page.get_by_role("option", name="viewer", exact=False).first.click()
    page.get_by_text("Image viewer", exact=True).click()
    page.locator("#viewer-image input").click()
    page.get_by_role("option", name="img1", exact=False).first.click()
    iframe = page.locator("#viewer-page iframe")
    iframe.wait_for(timeout=60_000)
    iframe.scroll_into_view_if_needed()
    frame = iframe.element_handle().content_frame()
    frame.wait_for_function("() => document.body.dataset.ready === '1'", timeout=60_000)
    _wait_rendered(frame)
    frame.locator("[data-mode=line]").click()
    box = iframe.bounding_box()

    def at(x: float, y: float) -> tuple[float, float]:
        fx, fy = _screen_of(frame, x, y)
        return box["x"] + fx, box["y"] + fy

    page.mouse.move(*at(100, 60))
    page.mouse.down()
    page.mouse.move(*at(150, 60), steps=5)  # 50 columns × 0.8 mm = 40 mm
    page.mouse.up()
    frame.wait_for_function(
        "() => document.querySelector('#message').textContent.includes('added')", timeout=30_000
    )
    shot(page, "viewer-in-app-measured")
    page.wait_for_function(
        "() => document.querySelector('#chat').innerText.includes('Tool · measure')",
        timeout=30_000,
    )
    chat = page.locator("#chat").inner_text()
    assert "distance 40" in chat and "mm" in chat, chat
    shot(page, "viewer-in-app-measured")
    page.close()


def test_segmentation_layer_with_legend_and_opacity(
    browser: Any, viewer_app: dict[str, Any]
) -> None:
    page = _open(browser, f"{viewer_app['base']}/viewer/{viewer_app['session']}/img1/page")
    layer = page.locator("[data-layer='img1:1']")
    layer.wait_for(timeout=20_000)
    page.wait_for_function(
        "() => window.medassist.panes[0].layers.every(l => l.item && l.item.getFullyLoaded())"
    )
    legend = page.locator(".pane .legend").inner_text()
    assert "tissue" in page.inner_text("#layer-boxes") and "mm²" in legend, legend
    page.wait_for_timeout(300)
    shown = _canvas_pixels(page)
    shot(page, "viewer-layer")
    layer.uncheck()
    page.wait_for_timeout(500)
    hidden = _canvas_pixels(page)
    assert np.abs(shown - hidden).mean() > 1, "hiding the layer changed nothing"
    assert page.locator(".pane .legend").is_hidden()
    layer.check()
    page.locator("#opacity").fill("100")
    page.wait_for_timeout(500)
    opaque = _canvas_pixels(page)
    assert np.abs(opaque - hidden).mean() > np.abs(shown - hidden).mean()
    page.close()


def test_segmentation_layer_on_a_slide(browser: Any, viewer_app: dict[str, Any]) -> None:
    page = _open_slide(browser, f"{viewer_app['base']}/slides/{viewer_app['session']}/img3/viewer")
    page.locator("[data-layer='1']").wait_for(timeout=20_000)
    page.wait_for_function(
        "() => window.medassistLayers.items.every(l => l.item && l.item.getFullyLoaded())"
    )
    # The layer covers exactly the analysed box, in level-0 pixels of the slide.
    bounds = page.evaluate(
        """() => { const l = window.medassistLayers.items[0].item;
                   const base = window.medassistViewer.world.getItemAt(0);
                   const b = base.viewportToImageRectangle(l.getBounds());
                   return [b.x, b.y, b.width, b.height]; }"""
    )
    expected = [SLIDE_BOX[k] for k in ("x", "y", "width", "height")]
    assert bounds == pytest.approx(expected, abs=1.0), bounds
    assert "tissue" in page.inner_text("#layers") and "µm²" in page.inner_text("#legend")
    shot(page, "slide-layer")
    page.locator("[data-layer='1']").uncheck()
    assert page.locator("#legend").is_hidden()
    page.close()


def _open_slide(browser: Any, url: str) -> Any:
    page = browser.new_page(viewport={"width": 900, "height": 700})
    page.goto(url)
    page.wait_for_function("() => window.medassistLayers !== undefined", timeout=60_000)
    return page
