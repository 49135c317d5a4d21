"""Patient data against the real vLLM server: a DICOM series in a ZIP and a slide, both named
after the patient (and the series' members and headers full of identifying values), through
tool calls, answers, a report and its exports. Nothing identifying reaches a request to the
model, the stored conversation, a log line, an export, the audit log or a file name."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from assistant.events import ToolFinished, TurnDone
from assistant.llm import OpenAIChatModel
from assistant.server import VLLMServer
from assistant.service import Assistant
from tests.tools.imaging.factory import PHI_VALUES
from tests.tools.imaging.test_series_archive import _series_zip
from tests.vllm_servers import RecordingModel, app_config
from tools.slides.synthetic import write_slide

pytestmark = pytest.mark.vllm

NAMES = ("Quixote", "Dulcinea")


async def test_series_and_slide_named_after_the_patient_leak_nothing(
    text_server: VLLMServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    series = _series_zip(tmp_path)  # Quixote_Dulcinea_CT.zip, members Quixote_Dulcinea/IM….dcm
    tissue = np.full((512, 768, 3), 235, np.uint8)
    tissue[100:400, 200:600] = (180, 90, 160)
    slide = write_slide(tmp_path / "Quixote_Dulcinea_biopsy.svs", tissue, layout="aperio")
    model = RecordingModel(OpenAIChatModel(text_server.url, text_server.profile.served_name))
    config = app_config(text_server, tmp_path / "data")
    async with Assistant(config, model=model) as assistant:
        session = assistant.new_session().id
        ct = await assistant.aadd_upload(session, series, series.name)
        wsi = await assistant.aadd_upload(session, slide, slide.name)
        turns = [
            [e async for e in assistant.run_turn(
                session, "Describe this series.", [ct.id], force_tool="describe_image",
                max_steps=1)],
            [e async for e in assistant.run_turn(
                session, "Give me an overview of the slide.", [wsi.id],
                force_tool="slide_overview", max_steps=1)],
        ]  # fmt: skip
        report = await assistant.draft_report(session, "ct")
        files = assistant.report_files(session, report.id)
        history = await assistant.history(session)
    for events in turns:
        finished = [e for e in events if isinstance(e, ToolFinished)]
        assert finished and finished[0].status == "success", events
        assert isinstance(events[-1], TurnDone)
    assert len(model.requests) >= 4  # two forced calls, two answers (and the report)
    data = config.data_dir
    with sqlite3.connect(data / "sessions.sqlite") as db:
        catalogue = "\n".join(str(row) for row in db.execute("SELECT * FROM uploads"))
    searched = {
        "requests": json.dumps([list(r.messages) for r in model.requests], default=str),
        "history": repr(history),
        "log": caplog.text,
        "exports": "\n".join(p.read_text() for p in files.exports if p.suffix in (".md", ".json")),
        "audit": (data / "audit.log").read_text(),
        "catalogue": catalogue,
        "file names": "\n".join(str(p.relative_to(data)) for p in data.rglob("*")),
    }
    assert searched["exports"] and "[T1]" in searched["exports"]  # there is a real report
    for where, text in searched.items():
        for value in (*PHI_VALUES, *NAMES):
            assert value.lower() not in text.lower(), f"{value!r} reached the {where}"
