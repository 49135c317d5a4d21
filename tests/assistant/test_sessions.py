from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from assistant.sessions import SessionStore
from tools.attachments import AttachmentKind, ImageClass, ImageFacts
from tools.errors import SessionNotFoundError, UploadRejectedError
from tools.imaging.archive import SERIES_MEDIA_TYPE
from tools.intake import Inspection


def test_sessions_persist_and_order(tmp_path: Path) -> None:
    store = SessionStore(tmp_path)
    a = store.create("first")
    b = store.create("second")
    store.touch(a.id, "first renamed")
    reopened = SessionStore(tmp_path)
    assert [s.id for s in reopened.list()] == [a.id, b.id]
    assert reopened.get(a.id).title == "first renamed"
    with pytest.raises(SessionNotFoundError):
        reopened.get("nope")


def test_a_users_session_list_is_read_through_its_index(tmp_path: Path) -> None:
    """The chat compares the list's first entry before and after every turn: one index step,
    not a scan and sort of every user's sessions."""
    store = SessionStore(tmp_path)
    for owner in ("ana", "ben", "ana"):
        store.create(owner=owner)
    assert [s.owner for s in store.list(limit=1, owner="ana")] == ["ana"]
    with sqlite3.connect(tmp_path / "sessions.sqlite") as db:
        plan = db.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM sessions WHERE owner = ? "
            "ORDER BY updated DESC LIMIT 1",
            ("ana",),
        ).fetchall()
    details = " ".join(str(row[-1]) for row in plan)
    assert "USING INDEX sessions_owner_updated" in details
    assert "TEMP B-TREE" not in details  # no sort: the index gives the order


def test_two_uploads_to_a_session_at_once_get_their_own_ids(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each upload counts the session's uploads and inserts the next id in one write turn:
    with both counts taken before either insert, the second failed on a duplicate id."""
    import threading
    import time

    import numpy as np
    from PIL import Image

    from assistant import database

    counted = database._SqliteTx.execute

    def slow_count(self: database._SqliteTx, sql: str, params: Any = ()) -> Any:
        rows = counted(self, sql, params)
        if sql.startswith("SELECT COUNT(*) FROM uploads"):
            time.sleep(0.3)  # the other upload's count, were it not waiting, comes now
        return rows

    monkeypatch.setattr(database._SqliteTx, "execute", slow_count)
    store = SessionStore(tmp_path / "data")
    sid = store.create().id
    files = []
    for i in range(2):
        files.append(tmp_path / f"scan{i}.png")
        Image.fromarray(np.full((32, 32), 40 * (i + 1), np.uint8)).save(files[-1])
    start = threading.Barrier(2)
    ids: list[str] = []
    failed: list[BaseException] = []

    def upload(path: Path) -> None:
        start.wait()
        try:
            ids.append(store.add_upload(sid, path, path.name).id)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            failed.append(exc)

    threads = [threading.Thread(target=upload, args=(f,)) for f in files]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert failed == [] and sorted(ids) == ["img1", "img2"], (failed, ids)
    assert sorted(store.attachments(sid)) == ["img1", "img2"]


def test_uploads_are_hashed_deduplicated_and_numbered(tmp_path: Path, gradient_png: Path) -> None:
    store = SessionStore(tmp_path / "data")
    sid = store.create().id
    first = store.add_upload(sid, gradient_png, "Chest PA.png")
    again = store.add_upload(sid, gradient_png, "copy.png")
    other = tmp_path / "other.png"
    other.write_bytes(gradient_png.read_bytes() + b"\0")
    second = store.add_upload(sid, other)
    assert (first.id, again.id, second.id) == ("img1", "img1", "img2")
    assert first.path.read_bytes() == gradient_png.read_bytes()
    assert first.path.name.startswith(first.sha256[:32])
    assert list(SessionStore(tmp_path / "data").attachments(sid)) == ["img1", "img2"]


def test_rejected_upload_leaves_nothing(tmp_path: Path, gradient_png: Path) -> None:
    def refuse(path: Path, name: str) -> Inspection:
        raise UploadRejectedError(f"{name}: too large")

    store = SessionStore(tmp_path, refuse)
    sid = store.create().id
    with pytest.raises(UploadRejectedError, match="too large"):
        store.add_upload(sid, gradient_png)
    assert store.attachments(sid) == {}
    assert not (store.session_dir(sid) / "uploads").exists() or not any(
        (store.session_dir(sid) / "uploads").iterdir()
    )


OLD_SCHEMA = """
CREATE TABLE sessions (id TEXT PRIMARY KEY, title TEXT NOT NULL, created REAL NOT NULL,
    updated REAL NOT NULL);
CREATE TABLE uploads (session_id TEXT NOT NULL REFERENCES sessions(id), id TEXT NOT NULL,
    name TEXT NOT NULL, media_type TEXT NOT NULL, sha256 TEXT NOT NULL,
    size_bytes INTEGER NOT NULL, stored_as TEXT NOT NULL, created REAL NOT NULL,
    PRIMARY KEY (session_id, id), UNIQUE (session_id, sha256));
"""


def test_databases_of_older_versions_get_kinds_and_facts(
    tmp_path: Path, gradient_png: Path
) -> None:
    """A store written before kinds existed opens with them filled in from the files."""
    from tests.tools.imaging.test_series_archive import _series_zip

    data = tmp_path / "data"
    uploads = data / "sessions" / "s1" / "uploads"
    uploads.mkdir(parents=True)
    shutil.copy(gradient_png, uploads / "aa.png")
    shutil.copy(_series_zip(tmp_path), uploads / "bb.zip")
    db = sqlite3.connect(data / "sessions.sqlite")
    db.executescript(OLD_SCHEMA)
    db.execute("INSERT INTO sessions VALUES ('s1', 'old', 1, 1)")
    rows = [
        ("img1", "x.png", "image/png", "a" * 64, "aa.png", 1.0),
        ("img2", "ct.zip", SERIES_MEDIA_TYPE, "b" * 64, "bb.zip", 2.0),
        ("img3", "gone.png", "image/png", "c" * 64, "cc.png", 3.0),  # lost on disk
    ]
    db.executemany("INSERT INTO uploads VALUES ('s1', ?, ?, ?, ?, 1, ?, ?)", rows)
    db.commit()
    db.close()

    atts = SessionStore(data).attachments("s1")
    assert [a.kind for a in atts.values()] == [
        AttachmentKind.IMAGE,
        AttachmentKind.SERIES,
        AttachmentKind.IMAGE,
    ]
    assert (atts["img1"].facts.width, atts["img1"].facts.height) == (64, 48)
    assert (atts["img2"].facts.frames, atts["img2"].facts.default_frame) == (5, 2)
    assert atts["img3"].facts == ImageFacts()
    with sqlite3.connect(data / "sessions.sqlite") as again:
        stored = again.execute("SELECT id, kind FROM uploads ORDER BY id").fetchall()
    assert stored == [("img1", "image"), ("img2", "series"), ("img3", None)]  # written once


def test_uploads_stop_at_the_byte_limit_before_any_check(
    tmp_path: Path, gradient_png: Path
) -> None:
    checked: list[str] = []

    def check(path: Path, name: str) -> Inspection:
        checked.append(name)
        return Inspection("image/png", AttachmentKind.IMAGE, ImageFacts())

    size = gradient_png.stat().st_size
    store = SessionStore(tmp_path / "data", check, max_bytes=size - 1)
    sid = store.create().id
    with pytest.raises(UploadRejectedError, match=r"^gradient\.png: larger than the upload"):
        store.add_upload(sid, gradient_png)
    assert checked == [] and store.attachments(sid) == {}
    assert list((store.session_dir(sid) / "uploads").iterdir()) == []
    roomy = SessionStore(tmp_path / "data", check, max_bytes=size)
    assert roomy.add_upload(sid, gradient_png).path.read_bytes() == gradient_png.read_bytes()
    assert checked == ["gradient.png"]


def test_kind_and_facts_are_stored_and_can_be_corrected(tmp_path: Path, gradient_png: Path) -> None:
    from functools import partial

    from tools.intake import inspect_upload
    from tools.settings import UploadSettings

    store = SessionStore(tmp_path / "data", partial(inspect_upload, limits=UploadSettings()))
    sid = store.create().id
    att = store.add_upload(sid, gradient_png)
    assert att.kind is AttachmentKind.IMAGE and att.facts.width == 64
    corrected = att.facts.model_copy(
        update={"image_class": ImageClass.RADIOGRAPH, "image_class_by": "person"}
    )
    assert store.update_facts(sid, att.id, corrected).facts == corrected
    assert SessionStore(tmp_path / "data").attachments(sid)[att.id].facts == corrected
    with pytest.raises(SessionNotFoundError):
        store.update_facts(sid, "img9", corrected)
    assert [p.name for p in (store.session_dir(sid) / "uploads").iterdir()] == [att.path.name]


def test_an_archive_checked_without_limits_leaves_no_scratch(tmp_path: Path) -> None:
    from tests.tools.imaging.test_series_archive import _series_zip

    store = SessionStore(tmp_path / "data")  # no upload check: kind read from the content
    sid = store.create().id
    att = store.add_upload(sid, _series_zip(tmp_path))
    assert att.kind is AttachmentKind.SERIES and att.facts.frames == 5
    assert [p.name for p in (store.session_dir(sid) / "uploads").iterdir()] == [att.path.name]


async def test_reports_of_an_older_data_folder_are_indexed_on_open(tmp_path: Path) -> None:
    """Reports written before the reports index existed are listed after an upgrade."""
    from assistant.database import Database
    from assistant.report import ReportStore, draft_report
    from assistant.testing import DeadChatModel
    from tests.assistant.report.conftest import lung_result, tool_message

    data = tmp_path / "data"
    session = SessionStore(data).create("old").id
    report = await draft_report(
        DeadChatModel(), "chest-radiograph", [tool_message("segment", lung_result(), "c1")]
    )
    ReportStore(data / "sessions" / session / "reports").save(report)  # no index: as before
    with sqlite3.connect(data / "sessions.sqlite") as db:  # the database of that version
        db.execute("DROP TABLE reports")
        db.execute("DROP TABLE audit")
        db.execute("DELETE FROM schema_version WHERE version = 2")
    assert Database("sqlite", data / "sessions.sqlite").version() == 1
    store = SessionStore(data)
    assert store.report_ids(session) == [report.id]
    assert store.db.version() == 2
