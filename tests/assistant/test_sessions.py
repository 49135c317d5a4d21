from __future__ import annotations

from pathlib import Path

import pytest

from assistant.sessions import SessionStore
from tools.errors import SessionNotFoundError, UploadRejectedError


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
    def refuse(path: Path, name: str) -> str:
        raise UploadRejectedError(f"{name}: too large")

    store = SessionStore(tmp_path, refuse)
    sid = store.create().id
    with pytest.raises(UploadRejectedError, match="too large"):
        store.add_upload(sid, gradient_png)
    assert store.attachments(sid) == {}
    assert not (store.session_dir(sid) / "uploads").exists() or not any(
        (store.session_dir(sid) / "uploads").iterdir()
    )
