"""``medassist pacs``: search shown to the person only, attach with progress, export, send."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydicom import dcmread

from assistant.cli import main
from assistant.config import load_config
from assistant.service import Assistant
from assistant.testing import ScriptedChatModel
from tests.tools.pacs.orthanc import PATIENTS, Orthanc, PacsData


@pytest.fixture
def pacs_env(monkeypatch: pytest.MonkeyPatch, orthanc: Orthanc) -> None:
    prefix = "MEDASSIST_PACS__ENDPOINTS__ORTHANC__"
    for field, value in {
        "BASE_URL": orthanc.url, "QIDO_PREFIX": "dicom-web", "WADO_PREFIX": "dicom-web",
        "STOW_PREFIX": "dicom-web", "AUTH__KIND": "basic", "AUTH__USERNAME": orthanc.user,
        "AUTH__PASSWORD": orthanc.password,
    }.items():  # fmt: skip
        monkeypatch.setenv(prefix + field, value)


def _segment(data: Path, session: str, image_id: str) -> None:
    async def run() -> None:
        config = load_config({"data_dir": str(data)})
        async with Assistant(config, model=ScriptedChatModel([])) as assistant:
            box = {"x": 4, "y": 8, "width": 24, "height": 24}
            args = {"image_id": image_id, "target": "prompted", "box": box}
            _ = [e async for e in assistant.run_tool(session, "segment", args)]

    asyncio.run(run())


def test_pacs_commands(
    tmp_path: Path,
    pacs_env: None,
    orthanc: Orthanc,
    pacs_data: PacsData,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = tmp_path / "data"
    common = ["--data-dir", str(data)]
    assert main(["pacs", "endpoints", *common]) == 0
    listed = capsys.readouterr().out
    assert "orthanc" in listed and "STOW off" in listed and orthanc.password not in listed

    assert main(["pacs", "search", "--patient-id", "MRN5550199", *common]) == 0
    out = capsys.readouterr().out
    assert "1 study found" in out and PATIENTS["cr"]["PatientName"] in out
    assert pacs_data.cr_study in out

    assert main(["pacs", "search", *common]) == 2
    assert "give at least one of" in capsys.readouterr().err

    session = Assistant(load_config({"data_dir": str(data)})).new_session().id
    assert main(["pacs", "attach", session, "--study", pacs_data.cr_study, *common]) == 0
    captured = capsys.readouterr()
    assert "attached img1: dicom-series-" in captured.out
    assert "instance" in captured.err  # the progress bar
    for path in data.rglob("*"):  # the search results were never stored (but the local map)
        if path.is_file() and path.suffix in (".sqlite", ".json", ".wal") and (
            "private" not in path.parts
        ):
            assert PATIENTS["cr"]["PatientName"].encode() not in path.read_bytes(), path

    assert main(["pacs", "results", session, *common]) == 0
    assert "No segmentation result" in capsys.readouterr().out
    _segment(data, session, "img1")
    assert main(["pacs", "results", session, *common]) == 0
    assert "1. segment prompted on img1" in capsys.readouterr().out

    out_dir = tmp_path / "out"
    assert main(["pacs", "export", session, "--out", str(out_dir), *common]) == 0
    written = sorted(out_dir.iterdir())
    assert [p.name.split("-")[0] for p in written] == ["seg", "sr"]
    assert {dcmread(p).Modality for p in written} == {"SEG", "SR"}

    assert main(["pacs", "send", *map(str, written), *common]) == 2  # STOW is opt-in
    assert "does not accept results" in capsys.readouterr().err
    assert all(p.is_file() for p in written)
