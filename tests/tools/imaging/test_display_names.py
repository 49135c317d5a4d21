"""One name per upload: the name chosen at upload is the one every tool result and error uses."""

from __future__ import annotations

import json
import re
from pathlib import Path

from assistant.config import load_config
from assistant.events import ToolFinished
from assistant.service import Assistant
from assistant.testing import ScriptedChatModel


async def test_tools_and_their_errors_name_the_upload_as_the_chat_does(
    tmp_path: Path, ct_dicom: Path
) -> None:
    config = load_config({"data_dir": str(tmp_path / "data")})
    async with Assistant(config, model=ScriptedChatModel([])) as assistant:
        session = assistant.new_session().id
        att = await assistant.aadd_upload(session, ct_dicom, ct_dicom.name)
        assert re.fullmatch(r"dicom-CT-[0-9a-f]{8}\.dcm", att.name), att.name  # recognisable
        events = [
            e async for e in assistant.run_tool(session, "describe_image", {"image_id": att.id})
        ]
        [described] = [e for e in events if isinstance(e, ToolFinished)]
        assert json.loads(described.content)["file_name"] == att.name
        events = [
            e
            async for e in assistant.run_tool(
                session, "view_dicom", {"image_id": att.id, "frame": 3}
            )
        ]
        [failed] = [e for e in events if isinstance(e, ToolFinished)]
        assert failed.status == "error"
        assert f"{att.id} ({att.name})" in failed.content, failed.content
        assert "dicom-" not in failed.content.replace(att.name, "")  # no second hashed name
