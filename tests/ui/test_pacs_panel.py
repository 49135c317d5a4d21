"""The PACS panel's handlers against the real Orthanc: search, attach, export, send, failures.

The handlers are called as Gradio calls them, with the app's `AssistantHolder` opened by
its lifespan; the model is the scripted double and is never asked anything here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import gradio as gr
import pytest

from assistant.config import AppConfig, load_config
from assistant.events import ToolFinished
from assistant.testing import ScriptedChatModel
from tests.tools.pacs.orthanc import PACS_PHI, PATIENTS, Orthanc, PacsData, free_port
from tests.tools.pacs.test_failures import silent_server  # noqa: F401 - a fixture
from tests.tools.segmentation.test_ct import ThresholdDouble
from tools.pacs import PacsAuth
from tools.segmentation import tool as segment_tool
from ui import pacs_panel
from ui.holder import AssistantHolder
from ui.pacs_panel import Exported, attach, export, result_choices, search, send, sending
from ui.pacs_results import Row, attach_choices, short_uid, table

CT = PATIENTS["ct"]


def _config(tmp_path: Path, orthanc: Orthanc, **endpoints: dict[str, Any]) -> AppConfig:
    """Endpoints named by keyword, each the test Orthanc with these overrides."""
    values = {}
    for name, overrides in endpoints.items():
        endpoint = orthanc.endpoint(**overrides).model_dump(mode="python")
        auth = overrides.get("auth")
        password = auth.password.get_secret_value() if auth else orthanc.password
        endpoint["auth"]["password"] = password  # model_dump hides secrets
        values[name] = endpoint
    return load_config({"data_dir": str(tmp_path / "data"), "pacs": {"endpoints": values}})


@asynccontextmanager
async def _opened(config: AppConfig) -> AsyncIterator[AssistantHolder]:
    """The holder as the web app's lifespan opens it."""
    holder = AssistantHolder(config, model=ScriptedChatModel([]))
    async with holder.lifespan(None):
        yield holder


def _pick(rows: list[Row], series_uid: str | None, study_uid: str) -> str:
    """The dropdown value of the row for that series (None: the whole study)."""
    values = {v for _, v in attach_choices(rows)}
    for i, row in enumerate(rows):
        if row.series_uid == series_uid and row.study_uid == study_uid:
            assert str(i) in values, "the row is offered for attaching"
            return str(i)
    raise AssertionError(f"no row for series {series_uid} of study {study_uid}")


@pytest.fixture
def no_totalsegmentator(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """ct_organs with the HU-threshold double of the VolumeSegmenter protocol."""
    monkeypatch.setattr(segment_tool, "volume_segmenter", lambda config: ThresholdDouble())
    yield


async def test_search_fills_the_table(
    tmp_path: Path, orthanc: Orthanc, pacs_data: PacsData, caplog: pytest.LogCaptureFixture
) -> None:
    async with _opened(_config(tmp_path, orthanc, hospital={})) as holder:
        with caplog.at_level(logging.DEBUG):
            rows, message = await search(holder, "hospital", patient_id=CT["PatientID"])
        assert message == "1 study found."
        study, *series = rows
        assert (study.study_uid, study.series_uid) == (pacs_data.ct_study, None)
        ct = [r for r in series if r.modality == "CT"]
        assert [(r.series_uid, r.instances, r.attachable) for r in ct] == [
            (pacs_data.ct_series, 6, True)
        ]
        # Results other tests sent back to this study (SEG, SR) are listed, not attachable.
        assert all(not r.attachable for r in series if r.modality != "CT")
        cells = table(rows)
        assert cells[0][:3] == ["study 1", "2024-01-17", "Quixote Dulcinea [MRN4471923]"]
        # CT, plus SEG and SR when another test has already sent results back to the study.
        assert "CT" in cells[0][3].split("\\")
        assert set(cells[0][3].split("\\")) <= {"CT", "SEG", "SR"}
        assert cells[0][4] == CT["StudyDescription"]
        ct_cells = cells[1 + series.index(ct[0])]
        assert ct_cells[3:] == ["CT", "", "6", short_uid(pacs_data.ct_series)]
        assert short_uid(pacs_data.ct_series) != pacs_data.ct_series  # shortened
        choices = attach_choices(rows)
        assert choices[0][0].startswith("study 1 · whole study · ") and "CT" in choices[0][0]
        assert any("series · CT · 6 instance(s)" in label for label, _ in choices)

        # A date range and a modality find the CR study only.
        rows, message = await search(
            holder, "hospital", date_from="2023-01-01", date_to="2023-12-31", modality="cr"
        )
        assert message == "1 study found." and rows[0].study_uid == pacs_data.cr_study
        assert [r.modality for r in rows[1:]] == ["CR"]
        rows, message = await search(holder, "hospital", accession="ACC0000000")
        assert (rows, message) == ([], "No study matches this search.")
    logs = "\n".join(r.getMessage() for r in caplog.records)
    for value in [*PACS_PHI, pacs_data.ct_study, pacs_data.ct_series]:
        assert value not in logs, value


async def test_search_fields_are_checked_before_anything_is_sent(
    tmp_path: Path, orthanc: Orthanc
) -> None:
    async with _opened(_config(tmp_path, orthanc, hospital={})) as holder:
        rows, message = await search(holder, "hospital")
        assert rows == [] and "give at least one of: patient ID" in message
        rows, message = await search(holder, "hospital", date_from="17.01.2024")
        assert rows == [] and "study date from must be a date written YYYY-MM-DD" in message
        rows, message = await search(
            holder, "hospital", date_from="2024-02-01", date_to="2024-01-01"
        )
        assert "is after date_to" in message
        _, message = await search(holder, "hospital", accession="A" * 17)
        assert message.startswith("⚠️ accession number: String should have at most 16")


async def test_attach_a_series_and_a_study(
    tmp_path: Path, orthanc: Orthanc, pacs_data: PacsData, caplog: pytest.LogCaptureFixture
) -> None:
    """Attached under a safe name to a session started for the user; audited; progress."""
    async with _opened(_config(tmp_path, orthanc, hospital={})) as holder:
        assistant = holder.current
        rows, _ = await search(holder, "hospital", patient_id=CT["PatientID"])
        steps: list[tuple[Any, ...]] = []
        with caplog.at_level(logging.DEBUG):
            session, ids, message = await attach(
                holder, None, "hospital", _pick(rows, pacs_data.ct_series, pacs_data.ct_study),
                rows, "alice", lambda *a, **k: steps.append((*a, k["desc"])),
            )  # fmt: skip
        assert session is not None and ids == "img1"
        assert assistant.get_session(session, owner="alice")  # started for the user
        att = assistant.attachments(session)["img1"]
        assert att.name.startswith("dicom-series-") and att.kind.value == "series"
        assert message == f"✅ Attached as img1 ({att.name})."
        assert steps[-1] == ((6, 6), "Retrieving CT series 2") and len(steps) == 6
        # The whole CR study, into the same session.
        rows, _ = await search(holder, "hospital", patient_id=PATIENTS["cr"]["PatientID"])
        same, ids, message = await attach(
            holder, session, "hospital", _pick(rows, None, pacs_data.cr_study), rows, "alice"
        )
        assert (same, ids) == (session, "img2") and message.startswith("✅ Attached as img2 (")
        # Nothing went to the conversation (what the model sees), and nothing identifying
        # to the session's catalogue, names or logs.
        assert await assistant.history(session) == []
        info = assistant.get_session(session)
        shown = " ".join([info.title, *(a.name for a in assistant.attachments(session).values())])
        audit = assistant.audit.read()
    logs = "\n".join(r.getMessage() for r in caplog.records)
    for value in [*PACS_PHI, pacs_data.ct_series, pacs_data.cr_series]:
        assert value not in shown and value not in logs and value not in str(audit), value
    attached = [
        (e["user"], e["session"], e["detail"]) for e in audit if e["action"] == "pacs_attach"
    ]
    assert attached == [("alice", session, "img1 hospital"), ("alice", session, "img2 hospital")]


async def test_a_failing_pacs_gives_a_message_and_loses_nothing(
    tmp_path: Path,
    orthanc: Orthanc,
    pacs_data: PacsData,
    silent_server: int,  # noqa: F811
) -> None:
    wrong = PacsAuth(kind="basic", username=orthanc.user, password="not-the-password")
    config = _config(
        tmp_path, orthanc, hospital={}, down={"base_url": f"http://127.0.0.1:{free_port()}"},
        locked={"auth": wrong},
        slow={"base_url": f"http://127.0.0.1:{silent_server}", "timeout_s": 0.5},
    )  # fmt: skip
    async with _opened(config) as holder:
        assistant = holder.current
        rows, _ = await search(holder, "hospital", patient_id=CT["PatientID"])
        ct = _pick(rows, pacs_data.ct_series, pacs_data.ct_study)
        for name, expected in [
            ("down", r"PACS 'down' .* is not reachable"),
            ("locked", r"refused the credentials \(HTTP 401\)"),
            ("slow", r"did not answer within 0.5 s"),
        ]:
            found, message = await search(holder, name, patient_id=CT["PatientID"])
            assert found == [] and message.startswith("⚠️ ") and re.search(expected, message)
            assert "Traceback" not in message and CT["PatientID"] not in message
            # Attaching from a PACS that fails: a session started for it is gone again.
            session, ids, message = await attach(holder, None, name, ct, rows, "bob")
            assert (session, ids) == (None, None), message
            assert message.endswith("Nothing was added."), message
            assert re.search(expected, message), message
        assert assistant.list_sessions(owner="bob") == []
        # An open session keeps what it had; an unknown series is a 404 in plain words.
        session, _, _ = await attach(holder, None, "hospital", ct, rows, "bob")
        assert session is not None
        gone = Row(pacs_data.ct_study, "1.2.3.4.5.6", "", "", "CT", "", 1, attachable=True)
        kept, ids, message = await attach(holder, session, "hospital", "0", [gone], "bob")
        assert (kept, ids) == (session, None) and "has no such series in that study" in message
        assert message.endswith("`medassist pacs series`). Nothing was added to the session.")
        assert list(assistant.attachments(session)) == ["img1"]
        # Nothing chosen yet.
        assert "Search first" in (await attach(holder, session, "hospital", None, [], "bob"))[2]


async def test_a_bug_is_logged_without_what_the_pacs_said(
    tmp_path: Path,
    orthanc: Orthanc,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(self: object, *args: object) -> None:
        raise KeyError(CT["PatientName"])

    monkeypatch.setattr(pacs_panel.PacsService, "search", broken)
    async with _opened(_config(tmp_path, orthanc, hospital={})) as holder:
        with caplog.at_level(logging.DEBUG):
            rows, message = await search(holder, "hospital", patient_id=CT["PatientID"])
    assert rows == [] and message == "⚠️ Searching failed inside MedAssist (KeyError; logged)."
    logged = [r for r in caplog.records if r.name == "ui.pacs_panel"]
    assert len(logged) == 1 and "KeyError" in logged[0].getMessage()
    assert "in broken" in logged[0].getMessage()  # the stack, to find the bug
    assert CT["PatientName"] not in logged[0].getMessage() and logged[0].exc_info is None


async def test_export_and_send_only_where_enabled(
    tmp_path: Path, orthanc: Orthanc, pacs_data: PacsData, no_totalsegmentator: None
) -> None:
    config = _config(tmp_path, orthanc, hospital={}, outbox={"stow_enabled": True})
    assert sending(config.pacs, "hospital")[0] is False
    assert "stow_enabled: true" in sending(config.pacs, "hospital")[1]
    assert sending(config.pacs, "outbox")[0] is True
    async with _opened(config) as holder:
        assistant = holder.current
        rows, _ = await search(holder, "hospital", patient_id=CT["PatientID"])
        ct = _pick(rows, pacs_data.ct_series, pacs_data.ct_study)
        session, _, _ = await attach(holder, None, "hospital", ct, rows, "")
        assert session is not None
        exported, message = await export(holder, session, None, None)
        assert exported is None and "no segmentation result to export yet" in message
        events = [
            e
            async for e in assistant.run_tool(
                session, "segment", {"image_id": "img1", "target": "ct_organs"}
            )
        ]
        assert [e.status for e in events if isinstance(e, ToolFinished)] == ["success"]
        _, reports = await result_choices(holder, None)  # no session: its value stays valid
        assert reports["choices"] == [("none", "")] and reports["value"] == ""
        results, reports = await result_choices(holder, session)
        assert results["choices"] == [("1. segment ct_organs on img1", "1")]
        assert results["value"] == "1" and reports["choices"] == [("none", "")]

        exported, message = await export(holder, session, "1", "")
        assert isinstance(exported, Exported) and exported.session_id == session
        names = [Path(p).name for p in exported.files]
        assert [n.split("-")[0] for n in names] == ["seg", "sr"], names
        assert all(Path(p).is_file() for p in exported.files)
        assert message.startswith(f"✅ Wrote 2 DICOM object(s): {names[0]}, {names[1]}")

        refused = await send(holder, session, "hospital", exported)
        assert refused.startswith("⚠️ Sending to 'hospital' is off")
        assert "stow_enabled: true" in refused
        other, _, _ = await attach(holder, None, "hospital", ct, rows, "")
        stale = await send(holder, other, "outbox", exported)  # another session's files
        assert stale.startswith("⚠️ Nothing to send yet")
        stored = await send(holder, session, "outbox", exported)
        assert stored == "✅ PACS 'outbox' stored 2 object(s)."
        audit = [e for e in assistant.audit.read() if e["action"] == "pacs_send"]
    assert [(e["session"], e["detail"]) for e in audit] == [(session, "outbox 2 stored 0 refused")]
    sent = orthanc.rest("GET", f"/instances/{_orthanc_id(orthanc, exported)}")
    assert sent.status_code == 200


def _orthanc_id(orthanc: Orthanc, exported: Exported) -> str:
    """Orthanc's id of the exported SEG (found by its SOP Instance UID)."""
    from pydicom import dcmread

    uid = str(dcmread(exported.files[0]).SOPInstanceUID)
    found = orthanc.rest(
        "POST", "/tools/lookup", data=uid, headers={"Content-Type": "text/plain"}
    ).json()
    assert found, "the SEG is stored in the PACS"
    return str(found[0]["ID"])


def test_without_a_configured_pacs_the_panel_says_how(tmp_path: Path) -> None:
    config = load_config({"data_dir": str(tmp_path / "data")})
    assert config.pacs.endpoints == {}
    with gr.Blocks() as demo:
        pacs_panel.build_pacs_panel(AssistantHolder(config), gr.State(None))
    ids = {getattr(b, "elem_id", None) for b in demo.blocks.values()}
    assert "pacs-not-configured" in ids and "pacs-search" not in ids
    note = next(b for b in demo.blocks.values() if b.elem_id == "pacs-not-configured")
    assert "configs/pacs.yaml" in str(note.value) and "No PACS is configured" in str(note.value)


async def test_a_study_failing_halfway_keeps_the_series_attached_before(
    tmp_path: Path, orthanc: Orthanc, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Series come one by one; the message names those attached before the failure."""
    from pydicom.uid import generate_uid

    from tests.tools.pacs.orthanc import _cr_image
    from tools.pacs import PacsTimeoutError

    study = generate_uid()
    for number in (1, 2):  # a study of two one-image series, its own for this test
        ds = _cr_image()
        ds.StudyInstanceUID, ds.SeriesNumber = study, number
        orthanc.upload(ds)
    real = pacs_panel.PacsService._attach
    calls: list[str] = []

    def second_times_out(self: Any, client: Any, *args: Any) -> Any:
        calls.append(args[1].series_uid)
        if len(calls) == 2:
            raise PacsTimeoutError("PACS 'hospital' did not answer within 20 s while retrieving")
        return real(self, client, *args)

    monkeypatch.setattr(pacs_panel.PacsService, "_attach", second_times_out)
    whole = [Row(study, None, "", "", "CR", "", 2, attachable=True)]
    async with _opened(_config(tmp_path, orthanc, hospital={})) as holder:
        session, ids, message = await attach(holder, None, "hospital", "0", whole, "carol")
        assert session is not None and ids == "img1" and len(calls) == 2
        att = holder.current.attachments(session)["img1"]
        assert message == (
            "⚠️ PACS 'hospital' did not answer within 20 s while retrieving. "
            f"Attached before that: img1 ({att.name})."
        )
