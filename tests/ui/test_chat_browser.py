"""The Gradio chat driven by headless Chromium against the real vLLM server."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from assistant.server import VLLMServer
from tests.ui.conftest import drag_box, serve_ui, shot
from tests.vllm_servers import app_config, free_port

pytestmark = [pytest.mark.browser, pytest.mark.vllm]


def _bot_texts(page: Any) -> list[str]:
    return [t.strip() for t in page.locator("#chat .bot").all_inner_texts()]


def choose_tool(page: Any, name: str) -> None:
    box = page.locator("#tool-choice input")
    box.click()
    # Entries read "name — what it does" (auto: "auto — the model decides").
    page.get_by_role("option", name=f"{name} — ", exact=False).first.click()


def send(page: Any, text: str, files: list[Path] | None = None) -> None:
    if files:
        page.locator("#message input[type=file]").set_input_files([str(f) for f in files])
        page.wait_for_timeout(500)
    area = page.locator("#message textarea")
    area.fill(text)
    area.press("Enter")


def wait_turn_done(page: Any, timeout_s: float = 240) -> list[list[str]]:
    """Wait until the message box is usable again; return snapshots of the bot text seen."""
    snapshots: list[list[str]] = []
    deadline = time.monotonic() + timeout_s
    page.wait_for_function(
        "() => document.querySelector('#message textarea').disabled", timeout=30_000
    )
    while time.monotonic() < deadline:
        snapshots.append(_bot_texts(page))
        if not page.locator("#message textarea").is_disabled():
            return snapshots
        page.wait_for_timeout(150)
    raise AssertionError("the turn did not finish in time")


def test_upload_ask_stream_and_tool_step(
    browser: Any, text_server: VLLMServer, tmp_path: Path, gradient_png: Path
) -> None:
    port = free_port()
    demo = serve_ui(app_config(text_server, tmp_path), port)
    try:
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_selector("#message textarea")
        choose_tool(page, "describe_image")
        send(page, "How large is this image?", [gradient_png])
        wait_turn_done(page)
        shot(page, "chat-after-turn")
        chat_text = page.locator("#chat").inner_text()
        assert "describe_image" in chat_text, chat_text
        assert page.locator("#chat img").count() >= 1, "the uploaded image is shown"
        final = _bot_texts(page)
        assert final and len(final[-1]) > 0
        # The tool step is collapsible and its result holds the measured width.
        page.get_by_text("describe_image").first.click()
        page.wait_for_timeout(300)
        assert '"width_px": 64' in page.locator("#chat").inner_text()
        # A second question in the same chat.
        choose_tool(page, "auto")
        send(page, "And what format is it?")
        wait_turn_done(page)
        chat_text = page.locator("#chat").inner_text()
        assert "How large is this image?" in chat_text and "And what format is it?" in chat_text
        assert len(_bot_texts(page)) > len(final)
        # The session appears in the list of past sessions.
        page.locator("#sessions input").click()
        assert page.get_by_role("option").count() >= 1
        shot(page, "chat-second-turn")
        # The viewer shows the upload, tiled at full resolution.
        page.get_by_text("Image viewer", exact=True).click()
        page.locator("#viewer-image input").click()
        page.get_by_role("option", name="img1", exact=False).first.click()
        viewer = page.locator("#viewer-page iframe")
        viewer.wait_for(timeout=60_000)
        viewer.element_handle().content_frame().wait_for_function(
            "() => window.medassist && window.medassist.panes.length === 1 "
            "&& window.medassist.panes[0].base && window.medassist.loads === 0",
            timeout=60_000,
        )
        # A report drafted from this session, with its support check and exports.
        page.get_by_text("Report draft").first.click()
        page.locator("#draft-report").click()
        page.wait_for_function(
            "() => document.querySelector('#report-status').innerText.includes('Draft ready')",
            timeout=300_000,
        )
        assert "evidence" in page.locator("#report-status").inner_text()
        assert page.locator("#report-files a").count() >= 2
        shot(page, "report-drafted")
    finally:
        demo.close()


def _answer_texts(update: Any) -> list[str]:
    """The assistant's plain-text messages in one streamed chat update of /send."""
    history = update[1] if isinstance(update, (list, tuple)) and len(update) > 1 else []
    texts: list[str] = []
    for item in history or []:
        if not isinstance(item, dict) or item.get("role") != "assistant":
            continue
        content = item.get("content")
        if isinstance(content, list):  # Gradio 6 sends [{"type": "text", "text": ...}]
            content = " ".join(str(c.get("text", "")) for c in content if isinstance(c, dict))
        if isinstance(content, str) and not (item.get("metadata") or {}).get("title"):
            texts.append(content)
    return texts


def test_answer_streams_through_the_ui_server(text_server: VLLMServer, tmp_path: Path) -> None:
    """The UI's own send handler streams the answer in pieces (driven with gradio_client;
    a browser under load may paint several pieces at once, so it cannot tell)."""
    from gradio_client import Client

    port = free_port()
    demo = serve_ui(app_config(text_server, tmp_path), port)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        job = client.submit(
            {"text": "Name three imaging modalities.", "files": []},
            [],
            "auto",
            "",
            api_name="/send",
        )
        job.result(timeout=240)
        seen = [_answer_texts(u) for u in job.outputs()]
        assert seen and seen[-1] and any(t.strip() for t in seen[-1]), seen[-3:]
        # Some assistant message grew over several updates before the turn ended.
        lengths: dict[int, set[int]] = {}
        for texts in seen:
            for i, t in enumerate(texts):
                if t.strip():
                    lengths.setdefault(i, set()).add(len(t))
        assert any(len(v) >= 2 for v in lengths.values()), f"no message grew: {lengths}"
    finally:
        demo.close()


def test_draw_a_box_on_the_slide_and_ask(
    browser: Any, text_server: VLLMServer, tmp_path: Path
) -> None:
    """Upload a slide, draw a box in the viewer, send: the agent zooms into exactly that box,
    the crop is shown in the chat and the viewer numbers the visited region."""
    import numpy as np

    from assistant.config import load_config
    from tools.slides.synthetic import write_slide
    from tools.slides.visits import list_visits

    base = np.full((768, 1024, 3), 255, np.uint8)
    base[100:300, 600:800] = (200, 30, 30)
    slide = write_slide(tmp_path / "biopsy.svs", base, layout="aperio", compression="jpeg")
    config = app_config(text_server, tmp_path / "data")
    config = load_config(
        {
            "model": config.model,
            "data_dir": str(config.data_dir),
            "llm": {"base_url": text_server.url},
            "agent": {"slide_max_steps": 1},  # one step: the drawn region's zoom, then answer
        }
    )
    port = free_port()
    demo = serve_ui(config, port)
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_selector("#message textarea")
        send(page, "Here is the slide.", [slide])
        wait_turn_done(page)
        page.get_by_text("Image viewer", exact=True).click()
        page.locator("#viewer-image input").click()
        page.get_by_role("option", name="img1", exact=False).first.click()
        iframe = page.locator("#viewer-page iframe")
        iframe.wait_for(timeout=60_000)
        iframe.scroll_into_view_if_needed()
        frame = page.frame_locator("#viewer-page iframe")
        frame.get_by_text("region(s) visited by the agent").wait_for(timeout=30_000)
        frame.locator("#select").click()
        drag_box(page, iframe, (0.45, 0.35), (90, 70))
        page.wait_for_function(
            "() => document.querySelector('#drawn-region textarea').value.includes('box')",
            timeout=10_000,
        )
        box = json.loads(page.input_value("#drawn-region textarea"))["box"]
        drawn = tuple(int(box[k]) for k in ("x", "y", "width", "height"))
        assert drawn[2] > 10 and drawn[3] > 10, box
        # The region travels as structured data: a question without numbers still zooms there.
        question = "What is in the region I drew?"
        page.fill("#message textarea", question)
        page.locator("#message textarea").press("Enter")
        wait_turn_done(page)
        shot(page, "slide-box-asked")
        chat_text = page.locator("#chat").inner_text()
        assert "slide_zoom" in chat_text and question in chat_text
        # The zoom visited exactly the drawn box, and its crop is in the chat.
        assistant_dir = config.data_dir / "sessions"
        (session_dir,) = [p for p in assistant_dir.iterdir() if p.is_dir()]
        zooms = [v for v in list_visits(session_dir, "img1") if v.kind == "zoom"]
        assert [(v.x, v.y, v.width, v.height) for v in zooms][-1] == drawn
        crops = [
            src for src in page.locator("#chat img").evaluate_all("els => els.map(e => e.src)")
            if "zoom" in src
        ]
        assert crops, "the zoomed crop is shown in the chat"
        # The viewer draws the visited region with its number (it polls every 4 s).
        frame.locator(".visit span").first.wait_for(timeout=15_000)
        assert str(len(zooms)) in frame.locator(".visit span").all_inner_texts()
    finally:
        demo.close()


def test_a_cut_short_dicom_is_refused_at_upload_and_answers_say_what_ran(
    browser: Any, text_server: VLLMServer, tmp_path: Path
) -> None:
    """A DICOM whose pixels are cut short is refused in plain words before any turn runs;
    then a question without a file gets an answer whose last line matches what ran."""
    from pydicom.uid import ExplicitVRLittleEndian

    from tests.tools.imaging.factory import PHI_VALUES, ct_phantom, make_dataset, write

    whole = write(make_dataset(ct_phantom()), tmp_path / "whole.dcm", ExplicitVRLittleEndian)
    cut = tmp_path / "Quixote_Dulcinea_scan.dcm"
    cut.write_bytes(whole.read_bytes()[:-1500])  # header whole, pixels not
    port = free_port()
    config = app_config(text_server, tmp_path / "data")
    demo = serve_ui(config, port)
    try:
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_selector("#message textarea")
        send(page, "What does this scan show?", [cut])
        page.wait_for_function(
            "() => document.querySelector('#chat').innerText.includes('Upload refused')",
            timeout=60_000,
        )
        chat = page.locator("#chat").inner_text()
        shot(page, "upload-refused-cut-dicom")
        assert "damaged or cut short" in chat, chat
        assert "Your message is still in the box" in chat
        assert "What does this scan show?" not in chat  # no turn ran on it
        assert page.locator("#message textarea").input_value() == "What does this scan show?"
        for value in [*PHI_VALUES, "Quixote", "Dulcinea"]:
            assert value not in chat, value
        # Nothing was stored for the refused file.
        assert not list((config.data_dir / "sessions").glob("*/uploads/*"))

        page.locator("#message textarea").fill("What is a chest radiograph used for?")
        page.locator("#message textarea").press("Enter")
        wait_turn_done(page)
        page.wait_for_function(  # the last block is painted (not "Loading content")
            "() => { const b = [...document.querySelectorAll('#chat .bot')].pop();"
            " return b && /No tool was used|Tools used for this answer/.test(b.innerText); }",
            timeout=60_000,
        )
        bots = _bot_texts(page)
        last = bots[-1].splitlines()
        tools_ran = "Tool · " in bots[-1]
        if tools_ran:
            assert any(line.startswith("Tools used for this answer: ") for line in last), last
        else:
            assert "No tool was used for this answer." in last, last
        shot(page, "answer-says-what-ran")
    finally:
        demo.close()
