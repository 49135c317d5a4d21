"""Several users in Chromium against the real vLLM server: sign-in on every route, each user
sees and reaches only their own sessions, files and slide tiles, and the audit log says who
did what."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from assistant.accounts import Accounts
from assistant.audit import AuditLog
from assistant.config import AppConfig, load_config
from assistant.server import VLLMServer
from assistant.service import Assistant
from assistant.testing import DeadChatModel
from tests.ui.conftest import serve_ui, shot
from tests.ui.test_chat_browser import send, wait_turn_done
from tests.vllm_servers import free_port
from ui.sessions_panel import STORAGE_KEY

pytestmark = [pytest.mark.browser, pytest.mark.vllm]

ALICE = ("alice", "alice-secret-1")
BOB = ("bob", "bob-secret-22")


def _prepare(config: AppConfig, tmp_path: Path) -> tuple[str, Path]:
    """Alice's session: a chest image and a small slide. Returns its id and the image file."""
    from tools.slides.synthetic import write_slide

    chest = tmp_path / "chest.png"
    Image.fromarray(np.tile(np.arange(64, dtype=np.uint8) * 4, (48, 1))).save(chest)
    slide = write_slide(tmp_path / "s.svs", np.full((512, 768, 3), 230, np.uint8), layout="aperio")

    async def run() -> tuple[str, Path]:
        async with Assistant(config, model=DeadChatModel()) as assistant:
            session = assistant.new_session("Alice's chest", owner="alice").id
            att = assistant.add_upload(session, chest)
            assistant.add_upload(session, slide)
            return session, att.path

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result(120)


def test_each_user_reaches_only_their_own_sessions(
    browser: Any, text_server: VLLMServer, tmp_path: Path
) -> None:
    accounts = tmp_path / "accounts.json"
    for name, password in (ALICE, BOB):
        Accounts(accounts).add(name, password)
    config = load_config(
        {
            "model": text_server.profile.name,
            "data_dir": str(tmp_path / "data"),
            "llm": {"base_url": text_server.url},
            "auth": {"accounts_file": str(accounts)},
        }
    )
    alice_session, alice_file = _prepare(config, tmp_path)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    demo = serve_ui(config, port)
    try:
        # Every route asks who you are: the page, Gradio's API, files, tiles.
        for path in ("/", "/gradio_api/info", f"/slides/{alice_session}/img2.dzi"):
            refused = httpx.get(base + path, timeout=30)
            assert refused.status_code == 401, path
            assert refused.headers["www-authenticate"].startswith("Basic")
        assert httpx.get(base + "/", auth=("alice", "wrong-secret"), timeout=30).status_code == 401
        # Alice reaches her tiles and files; Bob gets "not found" for the very same URLs.
        tile = f"/slides/{alice_session}/img2.dzi"
        upload = f"/gradio_api/file={alice_file}"
        viewer = f"/viewer/{alice_session}/img1/page"  # the image viewer and its tiles too
        exported = alice_file.parent.parent / "exports" / "seg-test.dcm"
        exported.parent.mkdir(exist_ok=True)
        exported.write_bytes(b"DICM")
        export = f"/gradio_api/file={exported}"
        viewer_tile = f"/viewer/{alice_session}/img1/f1/0/0_0.png"
        for path in (tile, upload, viewer, viewer_tile, export):
            assert httpx.get(base + path, auth=ALICE, timeout=30).status_code == 200, path
            assert httpx.get(base + path, auth=BOB, timeout=30).status_code == 404, path

        context = browser.new_context(http_credentials={"username": BOB[0], "password": BOB[1]})
        page = context.new_page()
        page.goto(base + "/")
        page.wait_for_selector("#message textarea")
        page.wait_for_function(
            "() => document.querySelector('#signed-in').innerText.includes('Signed in as bob')",
            timeout=30_000,
        )
        page.locator("#sessions input").click()
        assert "Alice's chest" not in " ".join(page.get_by_role("option").all_inner_texts())
        page.keyboard.press("Escape")
        # A remembered id of Alice's session (as if copied into Bob's browser) is not opened.
        page.evaluate(f"localStorage.setItem('{STORAGE_KEY}', '{alice_session}')")
        page.reload()
        page.wait_for_selector("#message textarea")
        page.wait_for_timeout(1500)
        assert "Alice" not in page.locator("#chat").inner_text()
        assert page.locator("#qa-detected").inner_text().startswith("Upload an image")
        send(page, "What can you do?")
        wait_turn_done(page)
        shot(page, "access-bob-signed-in")
        context.close()

        events = AuditLog(config.data_dir / "audit.log").read()
        bob = [(e["action"], e["session"]) for e in events if e["user"] == "bob"]
        refusals = [e["detail"] for e in events if e["user"] == "bob" and e["action"] == "refused"]
        assert refusals.count("a file or tile of it") == 5  # the five paths above
        assert "open: not this user's session" in refusals  # the remembered id
        assert [a for a, _ in bob if a in ("new", "message")] == ["new", "message"]
        assert all(s != alice_session for a, s in bob if a != "refused")
        alice = {e["action"] for e in events if e["user"] == "alice"}
        assert {"new", "upload", "view_image", "download"} <= alice, alice
    finally:
        demo.close()
