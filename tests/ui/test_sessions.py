"""Sessions in Chromium against the real vLLM server: reopened on reload, renamed, deleted
for good (checkpoints, uploads, results) after a confirmation."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from assistant.server import VLLMServer
from assistant.service import Assistant
from assistant.testing import DeadChatModel
from tests.tools.segmentation.synthetic import chest_xray, he_tile, nuclei_mask
from tests.ui.conftest import serve_ui, shot
from tests.ui.test_chat_browser import send, wait_turn_done
from tests.ui.test_report_panel_browser import _in_thread, _open_session
from tests.vllm_servers import app_config, free_port

pytestmark = [pytest.mark.browser, pytest.mark.vllm]


def _checkpoints(data_dir: Path, session_id: str) -> int:
    with sqlite3.connect(data_dir / "checkpoints.sqlite") as db:
        row = db.execute("SELECT COUNT(*) FROM checkpoints WHERE thread_id = ?", (session_id,))
        return int(row.fetchone()[0])


def _chat(page: Any) -> str:
    return str(page.locator("#chat").inner_text())


def test_reload_rename_and_delete(browser: Any, text_server: VLLMServer, tmp_path: Path) -> None:
    image = tmp_path / "he.png"
    Image.fromarray(he_tile(nuclei_mask())).save(image)
    data_dir = tmp_path / "data"
    port = free_port()
    demo = serve_ui(app_config(text_server, data_dir), port)
    try:
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_selector("#message textarea")
        question = "Please look at this tissue."
        send(page, question, [image])
        wait_turn_done(page)
        page.get_by_role("button", name="Segment nuclei and count").click()
        page.wait_for_function(
            "() => document.querySelector('#chat').innerText.includes('Tool · segment: ')",
            timeout=120_000,
        )
        (folder,) = [p for p in (data_dir / "sessions").iterdir() if p.is_dir()]
        session_id = folder.name
        assert any((folder / "uploads").iterdir()) and any((folder / "artifacts").iterdir())

        # Reloading the page reopens this browser's session, tool steps included.
        page.reload()
        page.wait_for_function(
            "q => (document.querySelector('#chat') || {innerText: ''}).innerText.includes(q)",
            arg=question,
            timeout=60_000,
        )
        assert "Tool · segment: 6 nuclei" in _chat(page)
        page.wait_for_function(
            "() => document.querySelector('#qa-detected').innerText.startsWith('img1 ')",
            timeout=30_000,
        )

        # Rename: the whole title is kept and listed.
        title = "Follow-up biopsy of the left breast, compared with the March 2025 sample"
        page.get_by_text("Rename or delete this session").click()
        page.locator("#session-title input, #session-title textarea").fill(title)
        page.locator("#rename-session").click()
        page.wait_for_function(
            "() => document.querySelector('#session-note').innerText.includes('Renamed')",
            timeout=30_000,
        )
        page.locator("#sessions input").click()
        options = page.get_by_role("option").all_inner_texts()
        assert any(title in o for o in options), options
        shot(page, "sessions-renamed")
        page.keyboard.press("Escape")

        # Delete asks first; cancelling keeps everything.
        page.locator("#delete-session").click()
        page.wait_for_selector("#delete-confirm", state="visible")
        assert title in page.locator("#delete-question").inner_text()
        shot(page, "sessions-delete-confirm")
        page.locator("#cancel-delete").click()
        page.wait_for_selector("#delete-confirm", state="hidden")
        assert folder.is_dir() and _checkpoints(data_dir, session_id) > 0

        # Confirmed: the files, the rows and what the model remembers are gone.
        page.locator("#delete-session").click()
        page.locator("#confirm-delete").click()
        page.wait_for_function(
            "() => document.querySelector('#session-note').innerText.includes('Deleted')",
            timeout=30_000,
        )
        assert not folder.exists()
        # No copy of an upload, overlay or render outlives it in Gradio's received folder.
        left = [p for p in (data_dir / "received").rglob("*") if p.is_file()]
        assert left == [], left
        assert _checkpoints(data_dir, session_id) == 0
        with sqlite3.connect(data_dir / "sessions.sqlite") as db:
            rows = db.execute("SELECT COUNT(*) FROM sessions WHERE id = ?", (session_id,))
            assert rows.fetchone()[0] == 0
        assert question not in _chat(page) and "Not a medical device" in _chat(page)
        shot(page, "sessions-deleted")
        # And a reload does not bring it back.
        page.reload()
        page.wait_for_selector("#chat")
        page.wait_for_timeout(2000)
        assert question not in _chat(page)
    finally:
        demo.close()


async def _two_sessions(config: Any, chest: Path, tissue: Path) -> None:
    async with Assistant(config, model=DeadChatModel()) as assistant:
        for title, image in (("Chest only", chest), ("Tissue only", tissue)):
            assistant.add_upload(assistant.new_session(title).id, image)  # both are img1


def test_switching_sessions_switches_the_tools_panel(
    browser: Any, text_server: VLLMServer, tmp_path: Path
) -> None:
    """Both sessions' image is img1: the detected kind and the one-click actions still follow
    the session that is open."""
    chest, tissue = tmp_path / "chest.png", tmp_path / "tissue.png"
    Image.fromarray(chest_xray((240, 220))[0]).save(chest)
    Image.fromarray(he_tile(nuclei_mask())).save(tissue)
    config = app_config(text_server, tmp_path / "data")
    _in_thread(_two_sessions(config, chest, tissue))
    port = free_port()
    demo = serve_ui(config, port)
    try:
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_selector("#message textarea")
        detected = "document.querySelector('#qa-detected').innerText"
        for title, kind, action, other in (
            ("Chest only", "radiograph", "Segment lungs (areas)", "Segment nuclei and count"),
            ("Tissue only", "stained tissue", "Segment nuclei and count", "Segment lungs (areas)"),
            ("Chest only", "radiograph", "Segment lungs (areas)", "Segment nuclei and count"),
        ):
            _open_session(page, title)
            page.wait_for_function(f"k => {detected}.includes(k)", arg=kind, timeout=30_000)
            page.get_by_role("button", name=action).wait_for(timeout=30_000)
            assert page.get_by_role("button", name=other).count() == 0, title
        shot(page, "sessions-switch-tools-panel")
    finally:
        demo.close()
