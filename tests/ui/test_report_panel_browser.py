"""The report panel in Chromium: each session shows its own reports; "Save edits" exports."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from PIL import Image

from assistant.report import draft_report
from assistant.server import VLLMServer
from assistant.service import Assistant
from assistant.testing import DeadChatModel
from tests.tools.segmentation.synthetic import chest_xray
from tests.ui.conftest import serve_ui, shot
from tests.vllm_servers import app_config, free_port

pytestmark = [pytest.mark.browser, pytest.mark.vllm]


def _in_thread(coro: Any) -> Any:
    """Run a coroutine to the end in its own thread (Playwright's sync API holds this one)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result(300)


async def _prepare(config: Any, chest: Path) -> tuple[str, str, str]:
    """Session A: lungs segmented, no report yet. Session B: a report (model down)."""
    async with Assistant(config, model=DeadChatModel()) as assistant:
        a = assistant.new_session("Chest session A").id
        att = assistant.add_upload(a, chest)
        args = {"image_id": att.id, "target": "lung_fields"}
        events = [e async for e in assistant.run_tool(a, "segment", args)]
        assert any(getattr(e, "status", None) == "success" for e in events), events
        b = assistant.new_session("Chest session B").id
        att_b = assistant.add_upload(b, chest)
        [e async for e in assistant.run_tool(b, "segment", {**args, "image_id": att_b.id})]
        report = await draft_report(DeadChatModel(), "ct", await assistant.history(b))
        assistant.reports(b).save(report)
        return a, b, report.id


def _open_session(page: Any, title: str) -> None:
    page.locator("#sessions input").click()
    page.get_by_role("option", name=title, exact=False).first.click()


def _wait_status(page: Any, text: str, timeout_ms: int = 60_000) -> None:
    page.wait_for_function(
        "t => document.querySelector('#report-status').innerText.includes(t)",
        arg=text,
        timeout=timeout_ms,
    )


def test_switching_sessions_switches_reports_and_save_edits_exports(
    browser: Any, text_server: VLLMServer, tmp_path: Path
) -> None:
    config = app_config(text_server, tmp_path / "data")
    chest = tmp_path / "chest.png"
    Image.fromarray(chest_xray((240, 220))[0]).save(chest)
    a, b, b_report = _in_thread(_prepare(config, chest))
    port = free_port()
    demo = serve_ui(config, port)
    try:
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_selector("#message textarea")
        page.get_by_text("Report draft").first.click()

        _open_session(page, "Chest session B")  # B's stored report is shown
        _wait_status(page, "CT report")
        assert "measured findings only" in page.locator("#report-status").inner_text()
        assert b_report[:8] in page.locator("#report-list input").input_value()

        _open_session(page, "Chest session A")  # A has none: nothing of B's remains
        _wait_status(page, "No report in this session yet.")
        assert page.locator("#report-editor textarea").input_value() == ""
        assert page.locator("#report-files a").count() == 0

        page.locator("#draft-report").click()  # drafted on the real model
        _wait_status(page, "Draft ready", timeout_ms=300_000)
        shot(page, "report-panel-drafted")
        preview = page.locator("#report-preview").inner_text()
        assert "[T1]" in preview and "right lung" in preview, preview
        assert page.locator("#report-files a").count() == 2
        [a_report] = [p.stem for p in (config.data_dir / "sessions").glob(f"{a}/reports/*.json")
                      if not p.name.endswith(".fhir.json")]  # fmt: skip

        _open_session(page, "Chest session B")  # back to B: B's report, not A's draft
        _wait_status(page, "CT report")
        assert b_report[:8] in page.locator("#report-list input").input_value()
        page.locator("#report-list input").click()
        # The report list's own options (the sessions list may not have closed yet).
        page.locator("#report-list [role='option']").first.wait_for()
        listed = page.locator("#report-list [role='option']").all_inner_texts()
        assert len(listed) == 1 and a_report[:8] not in listed[0], listed
        page.keyboard.press("Escape")
        _open_session(page, "Chest session A")
        _wait_status(page, "Chest radiograph report")

        editor = page.locator("#report-editor textarea")
        text = editor.input_value()
        head, _, rest = text.partition("## Impression\n")
        _, _, tail = rest.partition("\n## ")
        edited = (
            f"{head}## Impression\n\n- Clinician: both lungs measured, no effusion.\n\n## {tail}"
        )
        editor.fill(edited)
        page.locator("#report-final input").check()
        assert editor.input_value() == edited  # nothing refreshed the editor behind our back
        page.locator("#save-report").click()
        _wait_status(page, "Saved your edits as version 2 (final)")
        shot(page, "report-panel-saved")
        assert "Clinician: both lungs measured" in page.locator("#report-preview").inner_text()

        folder = config.data_dir / "sessions" / a / "reports"
        fhir = json.loads((folder / f"{a_report}.fhir.json").read_text())
        DiagnosticReport.model_validate(fhir)
        assert fhir["conclusion"] == "Clinician: both lungs measured, no effusion."
        assert fhir["status"] == "final"
        assert (folder / f"{a_report}.md").read_text() == edited
        assert len(list((folder / "versions" / a_report).glob("*.json"))) == 2
        b_folder = config.data_dir / "sessions" / b / "reports"
        assert [p.name for p in b_folder.glob("*.md")] == [f"{b_report}.md"]  # B untouched
    finally:
        demo.close()
