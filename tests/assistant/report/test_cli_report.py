"""`medassist report`: --list and --show print the session's reports and their export paths."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from assistant.cli import main
from assistant.config import load_config
from assistant.report import draft_report
from assistant.service import Assistant
from assistant.testing import DeadChatModel
from tests.assistant.report.conftest import lung_result, tool_message


async def _session_with_report(data: Path) -> tuple[str, str]:
    config = load_config({"data_dir": str(data)}, environ={})
    async with Assistant(config, model=DeadChatModel()) as assistant:
        session = assistant.new_session().id
        messages = [tool_message("segment", lung_result(), "c1")]
        report = await draft_report(DeadChatModel(), "chest-radiograph", messages)
        assistant.reports(session).save(report)
        assistant.save_report(session, report.id, "# Edited\n\n## Impression\n\n- Fine.\n")
        return session, report.id


def test_list_and_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    session, report_id = asyncio.run(_session_with_report(tmp_path / "data"))
    data = ["--data-dir", str(tmp_path / "data")]
    assert main(["report", session, "--list", *data]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{report_id}  chest-radiograph  preliminary  v2  ")
    assert main(["report", session, "--show", report_id, *data]) == 0
    shown = capsys.readouterr()
    assert shown.out.startswith("# Edited\n\n## Impression\n\n- Fine.")
    folder = tmp_path / "data" / "sessions" / session / "reports"
    assert f"Markdown: {folder / report_id}.md" in shown.err
    assert f"FHIR: {folder / report_id}.fhir.json" in shown.err
    assert main(["report", session, "--show", "nope", *data]) == 2
    assert f"no report 'nope' in this session (its reports: {report_id})" in capsys.readouterr().err
