"""A NIfTI upload through the Assistant: stored as a series, shown slice by slice, described."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from assistant.config import load_config
from assistant.events import ToolFinished, TurnDone
from assistant.service import Assistant
from assistant.testing import ScriptedChatModel
from tests.tools.imaging.test_volume_files import write_nifti
from tools.attachments import AttachmentKind
from tools.imaging.volume_header import NIFTI_MEDIA_TYPE
from ui.quick_actions import class_label


async def test_a_nifti_volume_is_a_series_for_the_viewer_and_the_tools(tmp_path: Path) -> None:
    data = np.zeros((24, 20, 10), np.int16) + (np.arange(10, dtype=np.int16) * 100)[None, None]
    upload = write_nifti(
        tmp_path / "Quixote_Dulcinea_4471923.nii.gz",
        data,
        np.diag([0.8, 0.7, 2.5, 1.0]),
        descrip=b"CT Quixote^Dulcinea",
        slope_inter=(1.0, -1024.0),
    )
    model = ScriptedChatModel([])
    async with Assistant(load_config({"data_dir": str(tmp_path / "d")}), model=model) as a:
        session = a.new_session().id
        att = a.add_upload(session, upload)
        assert att.kind is AttachmentKind.SERIES and att.media_type == NIFTI_MEDIA_TYPE
        assert att.name.startswith("volume-CT-") and att.name.endswith(".nii.gz")
        assert (att.facts.frames, att.facts.default_frame, att.facts.modality) == (10, 5, "CT")
        assert class_label(att) == "NIfTI volume CT · CT / MR (from the file header)"
        _, png, caption = await a.aview(session, att.id, frame=9)
        assert png.startswith(b"\x89PNG") and caption.startswith("frame 10 of 10")
        view = {"image_id": att.id, "window": "abdomen", "frame": 3}
        events = [e async for e in a.run_tool(session, "view_dicom", view)]
        finished = next(e for e in events if isinstance(e, ToolFinished))
        assert finished.status == "success" and isinstance(events[-1], TurnDone)
        shown = json.loads(finished.content)
        assert (shown["frame"], shown["frames"], shown["units"]) == (3, 10, "HU")
        assert shown["window_used"].startswith("abdomen") and finished.artifacts
        events = [e async for e in a.run_tool(session, "describe_image", {"image_id": att.id})]
        described = json.loads(next(e for e in events if isinstance(e, ToolFinished)).content)
        assert described["series"]["slices"] == 10
        assert described["series"]["slice_spacing_mm"] == 2.5
        assert described["stats"][0]["mean"] == 500 - 1024  # the middle slice, in HU
        history = repr(await a.history(session))
    assert not model.requests
    assert "Quixote" not in history and "Dulcinea" not in history and "4471923" not in history
