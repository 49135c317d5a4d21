"""Session catalogue and uploaded files, kept in SQLite beside the checkpointer's database.

The conversation itself lives in LangGraph's checkpointer; this store keeps what the UI
lists (titles, times) and each session's uploads, stored once per content hash.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import shutil
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tools.attachments import Attachment
from tools.errors import SessionNotFoundError, UploadRejectedError

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS uploads (
    session_id TEXT NOT NULL REFERENCES sessions(id),
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    media_type TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    stored_as TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (session_id, id),
    UNIQUE (session_id, sha256)
);
"""

UploadCheck = Callable[[Path, str], str]
"""Validates a candidate upload (path, original name) and returns its media type."""

DisplayName = Callable[[str, str, str], str]
"""Maps (session id, original name, media type) to the name kept and shown (de-identified)."""


@dataclass(frozen=True)
class SessionInfo:
    """A row of the session list."""

    id: str
    title: str
    created: float
    updated: float


def _default_check(path: Path, name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


class SessionStore:
    """Sessions and their uploads under `data_dir` (SQLite file + one folder per session)."""

    def __init__(
        self,
        data_dir: Path,
        check_upload: UploadCheck = _default_check,
        display_name: DisplayName = lambda session_id, name, media_type: name,
    ) -> None:
        self.data_dir = data_dir
        self._display_name = display_name
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.db_path = data_dir / "sessions.sqlite"
        self._check = check_upload
        with self._db() as db:
            db.executescript(SCHEMA)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.db_path, timeout=30)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA foreign_keys=ON")
            with db:
                yield db
        finally:
            db.close()

    def session_dir(self, session_id: str) -> Path:
        """Folder of one session's files."""
        return self.data_dir / "sessions" / session_id

    def create(self, title: str = "New consultation") -> SessionInfo:
        """Create and return a new session."""
        now = time.time()
        info = SessionInfo(uuid.uuid4().hex, title, now, now)
        with self._db() as db:
            db.execute("INSERT INTO sessions VALUES (?, ?, ?, ?)", (info.id, title, now, now))
        self.session_dir(info.id).mkdir(parents=True, exist_ok=True)
        return info

    def get(self, session_id: str) -> SessionInfo:
        """The session with that id, or SessionNotFoundError."""
        with self._db() as db:
            row = db.execute("SELECT * FROM sessions WHERE id = ?", (session_id,)).fetchone()
        if row is None:
            raise SessionNotFoundError(f"no session {session_id!r}")
        return SessionInfo(*row)

    def list(self, limit: int = 100) -> list[SessionInfo]:
        """Most recently updated sessions first."""
        with self._db() as db:
            rows = db.execute(
                "SELECT * FROM sessions ORDER BY updated DESC LIMIT ?", (limit,)
            ).fetchall()
        return [SessionInfo(*r) for r in rows]

    def touch(self, session_id: str, title: str | None = None) -> None:
        """Mark a session as updated now, optionally renaming it."""
        with self._db() as db:
            if title is None:
                db.execute(
                    "UPDATE sessions SET updated = ? WHERE id = ?", (time.time(), session_id)
                )
            else:
                db.execute(
                    "UPDATE sessions SET updated = ?, title = ? WHERE id = ?",
                    (time.time(), title, session_id),
                )

    def add_upload(self, session_id: str, source: Path, name: str | None = None) -> Attachment:
        """Validate and store a file for a session; the same content twice gives the same id.

        The file is checked before anything is kept and copied atomically, so a refused or
        failed upload leaves nothing behind.
        """
        self.get(session_id)
        name = Path(name or source.name).name
        if not source.is_file():
            raise UploadRejectedError(f"{name}: no such file")
        media_type = self._check(source, name)
        suffixes = "".join(Path(name).suffixes[-2:]).lower()
        name = self._display_name(session_id, name, media_type)
        sha = _sha256(source)
        with self._db() as db:
            row = db.execute(
                "SELECT id FROM uploads WHERE session_id = ? AND sha256 = ?", (session_id, sha)
            ).fetchone()
        if row is not None:
            return self.attachments(session_id)[row[0]]
        folder = self.session_dir(session_id) / "uploads"
        folder.mkdir(parents=True, exist_ok=True)
        stored = folder / (sha[:32] + suffixes)
        _atomic_copy(source, stored)
        with self._db() as db:
            count = db.execute(
                "SELECT COUNT(*) FROM uploads WHERE session_id = ?", (session_id,)
            ).fetchone()[0]
            image_id = f"img{count + 1}"
            db.execute(
                "INSERT INTO uploads VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    session_id,
                    image_id,
                    name,
                    media_type,
                    sha,
                    stored.stat().st_size,
                    stored.name,
                    time.time(),
                ),
            )
        return self.attachments(session_id)[image_id]

    def attachments(self, session_id: str) -> dict[str, Attachment]:
        """The session's uploads by id, in upload order."""
        with self._db() as db:
            rows = db.execute(
                "SELECT id, name, media_type, sha256, size_bytes, stored_as FROM uploads "
                "WHERE session_id = ? ORDER BY created",
                (session_id,),
            ).fetchall()
        folder = self.session_dir(session_id) / "uploads"
        return {
            r[0]: Attachment(
                id=r[0],
                path=folder / r[5],
                name=r[1],
                media_type=r[2],
                sha256=r[3],
                size_bytes=r[4],
            )
            for r in rows
        }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _atomic_copy(source: Path, target: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as out, source.open("rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        Path(tmp).replace(target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
