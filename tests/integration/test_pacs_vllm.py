"""A series from a real Orthanc, described through the real vLLM server: no PHI reaches it."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from assistant.events import ToolFinished, TurnDone
from assistant.pacs import PacsService
from assistant.server import VLLMServer
from assistant.service import Assistant
from tests.tools.pacs.orthanc import PACS_PHI, Orthanc, PacsData
from tests.vllm_servers import app_config, recording_client

pytestmark = pytest.mark.vllm


async def test_pacs_series_through_the_real_model(
    text_server: VLLMServer,
    orthanc: Orthanc,
    pacs_data: PacsData,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = app_config(text_server, tmp_path)
    endpoint = orthanc.endpoint().model_dump(mode="python")
    endpoint["auth"]["password"] = orthanc.password
    config = config.model_copy(
        update={"pacs": config.pacs.model_validate({"endpoints": {"orthanc": endpoint}})}
    )
    model = recording_client(text_server)
    with caplog.at_level(logging.DEBUG):
        async with Assistant(config, model=model) as assistant:
            session = assistant.new_session().id
            att = PacsService(assistant).attach_series(
                session, pacs_data.ct_study, pacs_data.ct_series
            )
            events = [
                e
                async for e in assistant.run_turn(
                    session, "Describe this series.", [att.id], force_tool="describe_image"
                )
            ]
            history = await assistant.history(session)
    assert isinstance(events[-1], TurnDone) and events[-1].answer
    (described,) = [e for e in events if isinstance(e, ToolFinished)]
    assert described.status == "success" and json.loads(described.content)["frames"] == 6
    assert model.requests, "the real model was asked"
    sent = json.dumps([r.messages for r in model.requests])
    assert "describe_image" in sent
    stored = json.dumps([m.model_dump(mode="json") for m in history], default=str)
    logs = "\n".join(r.getMessage() for r in caplog.records)
    originals = [pacs_data.ct_study, pacs_data.ct_series, *pacs_data.ct_instances]
    for value in [*PACS_PHI, *originals]:
        assert value not in sent, value
        assert value not in stored, value
        assert value not in logs, value
