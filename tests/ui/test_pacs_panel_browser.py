"""The PACS panel in Chromium against the real Orthanc: search, attach, then ask about it.

The patient's name is shown in the panel of the person who searched, and nowhere else:
not in the chat, not in what the model is sent, not in any stored message, catalogue,
audit line or log line. The model is the scripted double (no vLLM needed).
"""

from __future__ import annotations

import gc
import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from assistant.config import load_config
from assistant.testing import ScriptedChatModel
from tests.tools.pacs.orthanc import PACS_PHI, PATIENTS, Orthanc, PacsData, free_port
from tests.ui.conftest import shot
from tests.ui.test_chat_browser import send, wait_turn_done

pytestmark = [pytest.mark.browser]


def _stored_text(data_dir: Path) -> str:
    """Every value of every table of the app's SQLite databases (checkpoints, catalogue)."""
    out: list[str] = []
    for path in data_dir.rglob("*.sqlite"):
        with sqlite3.connect(path) as db:
            tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            for table in tables:
                for row in db.execute(f'SELECT * FROM "{table}"'):
                    out += [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
                            for v in row]  # fmt: skip
    return "\n".join(out)


# Gradio Blocks leave event loops of Gradio's own unclosed; collected here, inside the test.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_search_attach_and_ask_without_the_patient_leaving_the_panel(
    browser: Any,
    orthanc: Orthanc,
    pacs_data: PacsData,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from ui.app import UIServer, create_app
    from ui.holder import AssistantHolder

    endpoint = orthanc.endpoint(description="Test Orthanc").model_dump(mode="python")
    endpoint["auth"]["password"] = orthanc.password
    data_dir = tmp_path / "data"
    config = load_config({"data_dir": str(data_dir), "pacs": {"endpoints": {"hospital": endpoint}}})
    model = ScriptedChatModel(['{"tool": "answer"}', "A small CT series is attached."])
    server = UIServer(create_app(config, AssistantHolder(config, model=model)), "127.0.0.1",
                      free_port())  # fmt: skip
    server.start()
    try:
        with caplog.at_level(logging.INFO):
            page = browser.new_page(viewport={"width": 1280, "height": 1800})
            page.goto(server.url + "/")
            page.wait_for_selector("#message textarea")
            page.locator("#pacs-panel").get_by_text("PACS", exact=True).first.click()
            assert "search and retrieve only" in page.locator("#pacs-endpoint").inner_text() or (
                "search and retrieve only" in page.locator("#pacs-endpoint input").input_value()
            )
            assert "stow_enabled: true" in page.locator("#pacs-send-why").inner_text()
            assert page.locator("#pacs-send").is_disabled()

            page.locator("#pacs-patient-id textarea").fill(PATIENTS["ct"]["PatientID"])
            page.locator("#pacs-search").click()
            page.wait_for_function(
                "() => document.querySelector('#pacs-found').innerText.includes('1 study found')",
                timeout=30_000,
            )
            results = page.locator("#pacs-results").inner_text()
            assert "Quixote Dulcinea" in results and "2024-01-17" in results  # this panel only

            page.locator("#pacs-choice input").click()
            page.get_by_role("option", name="series · CT · 6 instance(s)", exact=False).click()
            page.locator("#pacs-attach").click()
            page.wait_for_function(
                "() => document.querySelector('#pacs-attach-note').innerText"
                ".includes('Attached as img1')",
                timeout=60_000,
            )
            note = page.locator("#pacs-attach-note").inner_text()
            # The tools panel follows the new attachment, by its safe name.
            page.wait_for_function(
                "() => document.querySelector('#qa-image input').value.startsWith('img1')",
                timeout=30_000,
            )
            shown = page.locator("#qa-image input").input_value()
            assert "dicom-series-CT-" in shown and shown.split(" · ")[1] in note
            shot(page, "pacs-panel-attached")
            toasts = page.locator("[data-testid='toast-body']").all_inner_texts()
            assert toasts == [], toasts  # no error popped up on the way

            send(page, "What is attached?")
            wait_turn_done(page, timeout_s=60)
            chat = page.locator("#chat").inner_text()
            assert "A small CT series is attached." in chat
            shot(page, "pacs-panel-after-turn")
    finally:
        server.close()
        del server
        gc.collect()

    # The model saw the series by its safe name, and nothing of the patient.
    sent = json.dumps([list(r.messages) for r in model.requests], default=str)
    assert "img1 = dicom-series-CT-" in sent
    stored = _stored_text(data_dir)
    assert "What is attached?" in stored  # the messages are there to be searched
    audit = (data_dir / "audit.log").read_text()
    assert '"pacs_attach"' in audit
    logs = "\n".join(r.getMessage() for r in caplog.records)
    for value in [*PACS_PHI, pacs_data.ct_study, pacs_data.ct_series]:
        for where, text in [("chat", chat), ("model", sent), ("stored", stored),
                            ("audit", audit), ("logs", logs)]:  # fmt: skip
            assert value not in text, f"{value!r} reached the {where}"
