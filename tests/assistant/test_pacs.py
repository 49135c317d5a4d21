"""PACS in a session against a real Orthanc: search, attach, tools, SEG/SR export, STOW-RS.

The model is the scripted test double (graph logic); tests/integration/test_pacs_vllm.py
runs the same path against the real vLLM server.
"""

from __future__ import annotations

import json
import logging
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import highdicom as hd
import numpy as np
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset

from assistant.config import AppConfig, load_config
from assistant.events import ToolFinished, TurnDone, TurnEvent
from assistant.pacs import PacsService
from assistant.report.model import DraftReport, ReportSection, ReportSentence
from assistant.service import Assistant
from assistant.testing import ScriptedChatModel
from tests.tools.pacs.orthanc import PACS_PHI, PATIENTS, Orthanc, PacsData
from tests.tools.segmentation.test_ct import ThresholdDouble
from tools.dicom_export.uidmap import MAP_FILE, UidMap, find_pseudonyms
from tools.imaging.deid import pseudonym, remap_uid
from tools.pacs import PacsClient, StudyQuery
from tools.segmentation import tool as segment_tool

SCRIPT = [
    '{"tool": "describe_image", "arguments": {"image_id": "img1"}}',
    '{"tool": "view_dicom", "arguments": {"image_id": "img1", "window": "abdomen"}}',
    '{"tool": "answer"}',
    "A small CT series.",
]


def _config(tmp_path: Path, orthanc: Orthanc, stow: bool) -> AppConfig:
    endpoint = orthanc.endpoint(stow_enabled=stow).model_dump(mode="python")
    endpoint["auth"]["password"] = orthanc.password
    return load_config({"data_dir": str(tmp_path / "data"),
                        "pacs": {"endpoints": {"orthanc": endpoint}}})  # fmt: skip


async def _events(stream: Any) -> list[TurnEvent]:
    return [e async for e in stream]


def _strings(ds: Dataset) -> str:
    return "\n".join(str(e.value) for e in ds.iterall() if e.VR not in ("OB", "OW", "SQ"))


@pytest.fixture
def no_totalsegmentator(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """ct_organs with the HU-threshold double of the VolumeSegmenter protocol."""
    monkeypatch.setattr(segment_tool, "volume_segmenter", lambda config: ThresholdDouble())
    yield


async def test_search_attach_segment_export_send(
    tmp_path: Path,
    orthanc: Orthanc,
    pacs_data: PacsData,
    caplog: pytest.LogCaptureFixture,
    no_totalsegmentator: None,
) -> None:
    model = ScriptedChatModel(SCRIPT)
    with caplog.at_level(logging.DEBUG):
        async with Assistant(_config(tmp_path, orthanc, stow=True), model=model) as assistant:
            service = PacsService(assistant)
            session = assistant.new_session().id
            hits = service.search(StudyQuery(patient_id=PATIENTS["ct"]["PatientID"]))
            assert [h.patient_name for h in hits] == [PATIENTS["ct"]["PatientName"]]
            steps: list[int] = []
            att = service.attach_series(session, pacs_data.ct_study, pacs_data.ct_series,
                                        progress=lambda hit: steps.append)  # fmt: skip
            assert len(steps) == 6 and att.id == "img1"
            assert att.name.startswith("dicom-series-")
            again = service.attach_series(session, pacs_data.ct_study, pacs_data.ct_series)
            assert again.id == att.id and list(assistant.attachments(session)) == ["img1"]

            events = await _events(assistant.run_turn(session, "What is this?", ["img1"]))
            assert isinstance(events[-1], TurnDone)
            done = [e for e in events if isinstance(e, ToolFinished)]
            assert [(e.name, e.status) for e in done] == [("describe_image", "success"),
                                                         ("view_dicom", "success")]  # fmt: skip
            described = json.loads(done[0].content)
            key = assistant.deid_key(session)
            assert described["series"]["series_uid"] == remap_uid(pacs_data.ct_series, key)

            seg_events = await _events(
                assistant.run_tool(session, "segment", {"image_id": "img1", "target": "ct_organs"})
            )
            seg_done = [e for e in seg_events if isinstance(e, ToolFinished)]
            assert seg_done and seg_done[0].status == "success", seg_events
            seg_result = json.loads(seg_done[0].content)

            report = DraftReport(
                id="r1", template="ct", title="CT report", modality="CT", evidence=[],
                sections=[ReportSection(name="findings", title="Findings", sentences=[
                    ReportSentence(text=f"Series {described['series']['series_uid']} of "
                                        f"{pseudonym('ANON', PATIENTS['ct']['PatientName'], key)}"
                                        " shows two structures.")])],
            )  # fmt: skip
            assistant.reports(session).save(report)
            exported = await service.export(session, report_id="r1")
            stored = service.send(exported.files)
            history = await assistant.history(session)
            session_dir = assistant.session_dir(session)

    # -- the objects written back reference the real instances and carry no pseudonym ----
    seg_path, sr_path, report_path = exported.files
    seg = hd.seg.segread(seg_path)
    uid_map = UidMap.load(session_dir)
    assert uid_map.original(remap_uid(pacs_data.ct_series, key)) == pacs_data.ct_series
    for ds in exported.datasets:
        assert not find_pseudonyms(ds, uid_map)
        assert remap_uid(pacs_data.ct_study, key) not in _strings(ds)
        assert ds.StudyInstanceUID == pacs_data.ct_study
        assert ds.PatientID == PATIENTS["ct"]["PatientID"]
    assert stat.S_IMODE((session_dir / MAP_FILE).stat().st_mode) == 0o600

    # geometry and labels: frames reference the original slices and sit where they do
    assert seg.FrameOfReferenceUID == pacs_data.frame_of_reference
    assert seg.SegmentSequence[0].SegmentLabel in ("soft tissue", "bone")
    names = {int(s.SegmentNumber): str(s.SegmentLabel) for s in seg.SegmentSequence}
    assert sorted(names.values()) == ["bone", "soft tissue"]
    source_z = {uid: 2.0 * i for i, uid in enumerate(pacs_data.ct_instances)}
    by_uid = _hu_by_instance(orthanc, pacs_data)
    hu = np.stack([by_uid[uid] for uid in pacs_data.ct_instances])
    expected = {"soft tissue": (hu > -200) & (hu < 300), "bone": hu >= 300}
    pixels = seg.pixel_array
    seen: set[tuple[int, str]] = set()
    for index, frame in enumerate(seg.PerFrameFunctionalGroupsSequence):
        source = frame.DerivationImageSequence[0].SourceImageSequence[0]
        uid = source.ReferencedSOPInstanceUID
        assert uid in source_z
        assert float(frame.PlanePositionSequence[0].ImagePositionPatient[2]) == source_z[uid]
        name = names[int(frame.SegmentIdentificationSequence[0].ReferencedSegmentNumber)]
        slice_index = pacs_data.ct_instances.index(uid)
        np.testing.assert_array_equal(pixels[index] > 0, expected[name][slice_index])
        seen.add((slice_index, name))
    assert {s for s, _ in seen} == {1, 2, 3, 4}  # the air-only end slices are left out
    spacing = seg.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
    assert [float(v) for v in spacing.PixelSpacing] == list(pacs_data.spacing)

    # measurements: volumes in mL from the voxel counts, referencing the SEG
    sr = hd.sr.srread(sr_path)
    groups = sr.content.get_volumetric_roi_measurement_groups()
    assert len(groups) == 2
    voxel_ml = pacs_data.slice_mm * pacs_data.spacing[0] * pacs_data.spacing[1] / 1000
    tool_volumes = {s["name"]: s["volume_ml"] for s in seg_result["structures"]}
    for group in groups:
        ref = group.referenced_segment
        assert ref is not None and ref.referenced_sop_instance_uid == seg.SOPInstanceUID
        (number,) = ref.referenced_segment_numbers
        assert ref.source_series_for_segmentation.value == (
            pacs_data.ct_series
        )
        name = names[number]
        (volume,) = group.get_measurements(name=hd.sr.CodedConcept("118565006", "SCT", "Volume"))
        assert volume.value == pytest.approx(expected[name].sum() * voxel_ml, abs=1e-3)
        assert volume.value == pytest.approx(tool_volumes[name], abs=0.01)
        assert volume.unit.value == "ml"
    evidence = {item.ReferencedSOPInstanceUID
                for study in sr.CurrentRequestedProcedureEvidenceSequence
                for series in study.ReferencedSeriesSequence
                for item in series.ReferencedSOPSequence}  # fmt: skip
    assert evidence == {*pacs_data.ct_instances, seg.SOPInstanceUID}

    # the report text SR: originals put back into the model's wording
    text_sr = dcmread(report_path)
    texts = [i.TextValue for i in text_sr.ContentSequence if "TextValue" in i]
    assert any(pacs_data.ct_series in t and PATIENTS["ct"]["PatientName"] in t for t in texts)

    # STOW-RS stored all three; Orthanc gives them back
    assert stored.ok and set(stored.stored) == {ds.SOPInstanceUID for ds in exported.datasets}
    with PacsClient("orthanc", orthanc.endpoint()) as client:
        series = {h.modality: h for h in client.search_series(pacs_data.ct_study)}
        assert {"CT", "SEG", "SR"} <= set(series)
        (back,) = list(client.iter_series(pacs_data.ct_study, series["SEG"].series_uid))
    again_seg = hd.seg.Segmentation.from_dataset(back)
    assert again_seg.SOPInstanceUID == seg.SOPInstanceUID
    np.testing.assert_array_equal(again_seg.pixel_array, seg.pixel_array)

    # PHI: nothing identifying in model requests, stored messages or logs
    requests = json.dumps([r.messages for r in model.requests])
    stored_messages = json.dumps([m.model_dump(mode="json") for m in history], default=str)
    logs = "\n".join(r.getMessage() for r in caplog.records)
    originals = [pacs_data.ct_study, pacs_data.ct_series, *pacs_data.ct_instances]
    for value in [*PACS_PHI, *originals]:
        assert value not in requests, value
        assert value not in stored_messages, value
        assert value not in logs, value


def _hu_by_instance(orthanc: Orthanc, data: PacsData) -> dict[str, np.ndarray]:
    """The stored slices in HU, read back from Orthanc (independent of the app's reader)."""
    with PacsClient("orthanc", orthanc.endpoint()) as client:
        slices = list(client.iter_series(data.ct_study, data.ct_series))
    return {
        str(ds.SOPInstanceUID): ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        for ds in slices
    }
