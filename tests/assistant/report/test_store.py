"""The report store: current version, exports written together, every save kept."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path

import pytest
from fhir.resources.R4B.diagnosticreport import DiagnosticReport

from assistant.report import ReportStore, to_markdown
from tests.assistant.report.test_export import _measured_report
from tools.errors import InputError


def test_save_list_edit_and_versions(tmp_path: Path) -> None:
    store = ReportStore(tmp_path / "reports", subject="session/s1")
    assert store.newest_first() == []
    older = _measured_report()
    newer = older.model_copy(update={"id": "r2", "created": older.created + timedelta(hours=1)})
    files = store.save(older)
    store.save(newer)
    assert [r.id for r in store.newest_first()] == ["r2", "r1"]
    assert files.markdown.read_text() == to_markdown(older)

    edited = to_markdown(older).replace("Left effusion <small>.", "Small effusion, stable.")
    report, files = store.edit("r1", edited, status="final")
    assert store.load("r1") == report and report.version == 2
    assert files.markdown.read_text() == edited
    fhir = json.loads(files.fhir.read_text())
    DiagnosticReport.model_validate(fhir)
    assert fhir["status"] == "final" and fhir["conclusion"].startswith("Small effusion, stable.")
    assert base64.b64decode(fhir["presentedForm"][0]["data"]).decode() == edited
    assert fhir["subject"] == {"reference": "session/s1"}

    store.edit("r1", edited.replace("stable", "smaller"))
    versions = store.versions("r1")
    assert [(v.version, v.status) for v in versions] == [
        (1, "preliminary"),
        (2, "final"),
        (3, "final"),
    ]
    assert versions[0].saved is None and versions[1].saved is not None
    assert versions[2].saved is not None and versions[1].saved <= versions[2].saved
    assert versions[0].markdown is None and "smaller" in (versions[2].markdown or "")


def test_unknown_report_names_the_known_ones(tmp_path: Path) -> None:
    store = ReportStore(tmp_path / "reports")
    store.save(_measured_report())
    with pytest.raises(InputError, match=r"no report 'nope' in this session \(its reports: r1\)"):
        store.load("nope")
    with pytest.raises(InputError, match="no report"):
        store.load("../r1")
    with pytest.raises(InputError, match="empty; nothing was saved"):
        store.edit("r1", "  ")
    assert store.load("r1").version == 1  # nothing lost
