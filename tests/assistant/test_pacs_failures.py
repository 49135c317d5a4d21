"""PACS edge cases in a session: a failing PACS loses nothing; 2-D results; clear refusals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import highdicom as hd
import numpy as np
import pytest
from PIL import Image
from pydicom import dcmread

from assistant.config import AppConfig, load_config
from assistant.events import ToolFinished
from assistant.pacs import PacsService
from assistant.service import Assistant
from assistant.testing import ScriptedChatModel
from tests.tools.pacs.orthanc import Orthanc, PacsData, free_port
from tools.errors import InputError, UploadRejectedError
from tools.pacs import PacsError, PacsNotFoundError, PacsStoreError, PacsUnavailableError


def _config(tmp_path: Path, orthanc: Orthanc, **endpoint: Any) -> AppConfig:
    values = orthanc.endpoint(**endpoint).model_dump(mode="python")
    values["auth"]["password"] = orthanc.password
    return load_config({"data_dir": str(tmp_path / "data"),
                        "pacs": {"endpoints": {"orthanc": values}}})  # fmt: skip


def _nothing_kept(assistant: Assistant, session: str) -> None:
    folder = assistant.session_dir(session)
    assert assistant.attachments(session) == {}
    leftovers = [p.name for p in folder.rglob("*") if p.is_file()]
    assert leftovers == [], leftovers


async def test_failing_pacs_loses_nothing(
    tmp_path: Path, orthanc: Orthanc, pacs_data: PacsData
) -> None:
    down = _config(tmp_path, orthanc, base_url=f"http://127.0.0.1:{free_port()}")
    async with Assistant(down, model=ScriptedChatModel([])) as assistant:
        session = assistant.new_session().id
        with pytest.raises(PacsUnavailableError, match="not reachable"):
            PacsService(assistant).attach_series(session, pacs_data.ct_study, pacs_data.ct_series)
        _nothing_kept(assistant, session)
    tiny = _config(tmp_path, orthanc).model_copy(
        update={"uploads": load_config().uploads.model_copy(update={"max_bytes": 5_000})}
    )
    async with Assistant(tiny, model=ScriptedChatModel([])) as assistant:
        session = assistant.new_session().id
        service = PacsService(assistant)
        with pytest.raises(UploadRejectedError, match="larger than the upload limit"):
            service.attach_series(session, pacs_data.ct_study, pacs_data.ct_series)
        with pytest.raises(PacsNotFoundError, match="no such series"):
            service.attach_series(session, pacs_data.ct_study, pacs_data.cr_series)
        with pytest.raises(PacsError, match="not a DICOM UID"):
            service.attach_series(session, "1.2.x", pacs_data.ct_series)
        _nothing_kept(assistant, session)
        with pytest.raises(InputError, match="no segmentation result"):
            await service.export(session)


async def test_planar_result_export_and_refused_send(
    tmp_path: Path, orthanc: Orthanc, pacs_data: PacsData
) -> None:
    """A 2-D result on a CR image: planar SEG, area in mm²; STOW refused, files kept."""
    async with Assistant(_config(tmp_path, orthanc), model=ScriptedChatModel([])) as assistant:
        session = assistant.new_session().id
        service = PacsService(assistant)
        (att,) = service.attach_study(session, pacs_data.cr_study)
        box = {"x": 4, "y": 8, "width": 24, "height": 24}
        args = {"image_id": att.id, "target": "prompted", "box": box}
        events = [e async for e in assistant.run_tool(session, "segment", args)]
        done = [e for e in events if isinstance(e, ToolFinished)]
        assert done and done[0].status == "success", events
        result = json.loads(done[0].content)
        exported = await service.export(session)
        with pytest.raises(PacsStoreError, match="does not accept results"):
            service.send(exported.files)
        mask = np.asarray(Image.open(assistant.session_dir(session) / result["mask_png"]))
    assert all(path.is_file() for path in exported.files)  # kept for a later send
    # pydicom, not highdicom: highdicom 0.28 reads back no SEG whose pixel measures lack
    # a slice thickness, which a projection image (CR) does not have (type 1C).
    seg = dcmread(exported.files[0])
    assert seg.SeriesInstanceUID != pacs_data.cr_series
    assert seg.StudyInstanceUID == pacs_data.cr_study
    (frame,) = seg.PerFrameFunctionalGroupsSequence
    source = frame.DerivationImageSequence[0].SourceImageSequence[0]
    referenced = seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0]
    assert source.ReferencedSOPInstanceUID == pacs_data.cr_instance
    assert referenced.ReferencedSOPInstanceUID == pacs_data.cr_instance
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == pacs_data.cr_series
    assert seg.NumberOfFrames == 1 and int(seg.BitsAllocated) == 1
    np.testing.assert_array_equal(seg.pixel_array > 0, mask > 0)
    assert str(seg.SegmentSequence[0].SegmentAlgorithmType) == "SEMIAUTOMATIC"
    sr = hd.sr.srread(exported.files[1])
    (group,) = sr.content.get_planar_roi_measurement_groups()
    (area,) = group.get_measurements(name=hd.sr.CodedConcept("42798000", "SCT", "Area"))
    assert area.unit.value == "mm2"
    assert area.value == pytest.approx((mask > 0).sum() * 0.2 * 0.2, abs=1e-3)
    assert result["total_area"]["unit"] == "mm²"
    assert area.value == pytest.approx(result["total_area"]["value"], rel=1e-3)
