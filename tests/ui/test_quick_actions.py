"""Tools for this image, in Chromium against the real vLLM server with the embedded model.

The person runs tools by one click (quick actions) or a form; the run is a tool step of
the session, drawn in the chat like a model's call.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from pydicom.uid import ExplicitVRLittleEndian

from assistant.server import VLLMServer
from tests.tools.imaging.factory import ct_phantom, make_dataset, write
from tests.tools.segmentation.synthetic import NUCLEUS_CENTRES, chest_xray, he_tile, nuclei_mask
from tests.ui.conftest import serve_ui, shot
from tests.ui.test_chat_browser import send, wait_turn_done
from tests.vllm_servers import app_config, free_port

pytestmark = [pytest.mark.browser, pytest.mark.vllm]

TITLE = re.compile(r"Tool · (\w+): ([^\n]*)")


def steps(page: Any) -> list[tuple[str, str]]:
    """(tool, summary) of every finished tool step in the chat, in order."""
    return TITLE.findall(page.locator("#chat").inner_text())


def wait_steps(page: Any, count: int, timeout_ms: int = 120_000) -> list[tuple[str, str]]:
    page.wait_for_function(
        "n => ((document.querySelector('#chat') || {innerText: ''}).innerText"
        ".match(/Tool · \\w+: /g) || []).length >= n",
        arg=count,
        timeout=timeout_ms,
    )
    return steps(page)


def new_step(page: Any, press: Any) -> tuple[str, str]:
    """Press a button and return the tool step it adds (the model may have run tools too)."""
    before = len(steps(page))
    press.click()
    return wait_steps(page, before + 1)[-1]


def upload(page: Any, path: Path, text: str, image_id: str) -> None:
    """Send a file with a message; wait for the tools panel to show that new upload."""
    send(page, text, [path])
    wait_turn_done(page)
    page.wait_for_function(
        "id => document.querySelector('#qa-detected').innerText.startsWith(id + ' ')",
        arg=image_id,
        timeout=60_000,
    )


def template(page: Any) -> str:
    """The report template chosen in the report panel (opened if closed)."""
    head = page.locator("#report-panel button.label-wrap")
    if "open" not in (head.get_attribute("class") or ""):
        head.click()
    return str(page.locator("#report-template input").input_value())


def number(text: str, after: str) -> float:
    match = re.search(re.escape(after) + r" ([\d,.]+)", text)
    assert match, f"no number after {after!r} in {text!r}"
    return float(match.group(1).replace(",", ""))


def test_quick_actions_and_forms(browser: Any, text_server: VLLMServer, tmp_path: Path) -> None:
    he, cxr, ct = tmp_path / "he.png", tmp_path / "chest.png", tmp_path / "ct.dcm"
    Image.fromarray(he_tile(nuclei_mask())).save(he)
    Image.fromarray(chest_xray((400, 360))[0]).save(cxr)
    write(make_dataset(ct_phantom(64, 64)), ct, ExplicitVRLittleEndian)
    port = free_port()
    demo = serve_ui(app_config(text_server, tmp_path / "data"), port)
    try:
        page = browser.new_page(viewport={"width": 1300, "height": 1100})
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_selector("#message textarea")
        assert "Not a medical device" in page.locator("#chat").inner_text()  # the welcome

        # H&E: detected at upload, one click segments and counts the nuclei (pixels).
        upload(page, he, "Here is a tissue image.", "img1")
        assert "stained tissue (H&E / IHC)" in page.locator("#qa-detected").inner_text()
        assert template(page) == "pathology-slide"  # the report panel follows the image too
        assert page.get_by_role("button", name="Segment lungs (areas)").count() == 0
        tool, summary = new_step(page, page.get_by_role("button", name="Segment nuclei and count"))
        assert tool == "segment" and summary.startswith(f"{len(NUCLEUS_CENTRES)} nuclei"), summary
        assert summary.endswith(" px") or " px," in summary, "uncalibrated areas are in pixels"
        overlays = page.locator("#chat img").evaluate_all("els => els.map(e => e.src)")
        assert any("overlay" in src for src in overlays), overlays
        shot(page, "quick-action-nuclei")
        # The same tool from its form, calibrated: the areas are in µm², a quarter at 0.5 µm/px.
        page.get_by_text("All tools (a form for each)").click()
        page.locator("#form-tool input").click()
        page.get_by_role("option", name="segment — ", exact=False).first.click()
        page.locator("#form-microns_per_pixel input, #form-microns_per_pixel textarea").fill("0.5")
        first = (tool, summary)
        second = new_step(page, page.locator("#form-run"))
        assert "µm²" in second[1], second
        px, um2 = number(first[1], "total"), number(second[1], "total")
        assert um2 == pytest.approx(px * 0.25, rel=0.01), (first, second)

        # A chest radiograph: the chooser follows the newest upload; lungs, not nuclei.
        upload(page, cxr, "And a chest film.", "img2")
        assert "radiograph" in page.locator("#qa-detected").inner_text()
        assert template(page) == "chest-radiograph"
        assert page.get_by_role("button", name="Segment nuclei and count").count() == 0
        tool, summary = new_step(page, page.get_by_role("button", name="Segment lungs (areas)"))
        lungs = summary
        assert tool == "segment" and summary.startswith("2 lung field(s)"), summary
        assert "right lung" in summary and "left lung" in summary
        assert number(summary, "right lung") > 1000 and number(summary, "left lung") > 1000
        shot(page, "quick-action-lungs")

        # CT DICOM: the form offers the HU windows; the brain window is rendered.
        upload(page, ct, "A CT slice.", "img3")
        assert "CT" in page.locator("#qa-detected").inner_text()
        assert template(page) == "ct"
        page.locator("#form-tool input").click()
        page.get_by_role("option", name="view_dicom — ", exact=False).first.click()
        page.locator("#form-window input").click()
        options = page.get_by_role("option").all_inner_texts()
        assert {"lung", "brain", "bone"} <= {o.strip() for o in options}, options
        page.get_by_role("option", name="brain", exact=True).click()
        tool, summary = new_step(page, page.locator("#form-run"))
        assert tool == "view_dicom" and summary.startswith("window brain"), summary
        shot(page, "form-ct-brain")
        # The person's runs are steps of the session the model sees: stored in the checkpoint.
        ran = [first, second, ("segment", lungs), (tool, summary)]
        page.reload()
        page.wait_for_selector("#chat")
        wait_steps(page, len(ran), timeout_ms=60_000)
        stored = steps(page)
        assert all(step in stored for step in ran), (ran, stored)
    finally:
        demo.close()
