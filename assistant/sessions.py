"""Session catalogue and uploaded files: rows in the catalogue database, files in a folder.

The conversation itself lives in LangGraph's checkpointer; this store keeps what the UI
lists (titles, times), each session's uploads, stored once per content hash with the kind
and facts decided when the upload was checked (`tools.intake`), and the index of its
reports. The database is SQLite under the data folder or PostgreSQL (`assistant.database`);
the files are under the data folder, which several app instances may share (writes go to a
temporary name and are renamed into place). SQLite files of older versions get the newer
columns on open, filled in from the stored files.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import logging
import mimetypes
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from assistant.database import Database, Tx
from tools.attachments import Attachment, AttachmentKind, ImageFacts
from tools.errors import InputError, SessionNotFoundError, UploadRejectedError
from tools.imaging.archive import unpacked_dir
from tools.intake import Inspection, inspect_stored

log = logging.getLogger(__name__)

_SELECT = "SELECT id, title, created, updated, owner FROM sessions"

_ADDED_COLUMNS = {"kind": "TEXT", "facts": "TEXT"}
"""Upload columns newer than the first schema (added to older databases on open)."""

UploadCheck = Callable[[Path, str], Inspection]
"""Validates a candidate upload (path, original name): its media type, kind and facts.

Raises UploadRejectedError for a file that may not be kept (see `tools.intake`)."""

DisplayName = Callable[[str, str, str, str | None], str]
"""Maps (session id, original name, media type, DICOM modality) to the name kept and shown
(de-identified, yet recognisable)."""


@dataclass(frozen=True)
class ReportEntry:
    """What the reports index keeps of a saved report (the report itself is a file)."""

    id: str
    version: int
    status: str
    template: str
    created: float

    @classmethod
    def from_json(cls, text: str) -> ReportEntry:
        """The entry of a stored report's JSON (`DraftReport`'s fields)."""
        data = json.loads(text)
        created = datetime.fromisoformat(str(data["created"])).timestamp()
        return cls(
            data["id"], int(data.get("version", 1)), str(data.get("status", "")),
            str(data.get("template", "")), created,
        )  # fmt: skip


@dataclass(frozen=True)
class SessionInfo:
    """A row of the session list."""

    id: str
    title: str
    created: float
    updated: float
    owner: str = ""
    """The user the session belongs to ("" when the UI runs without accounts)."""


def _default_check(path: Path, name: str) -> Inspection:
    """No limits: the kind and facts from the content, the media type from the name."""
    found = inspect_stored(path)
    return Inspection(mimetypes.guess_type(name)[0] or found.media_type, found.kind, found.facts)


class SessionStore:
    """Sessions and their uploads under `data_dir` (SQLite file + one folder per session)."""

    def __init__(
        self,
        data_dir: Path,
        check_upload: UploadCheck = _default_check,
        display_name: DisplayName = lambda session_id, name, media_type, modality: name,
        *,
        max_bytes: int | None = None,
        database: Database | None = None,
    ) -> None:
        """Open (creating or migrating) the store under `data_dir`.

        `database` holds the rows (default: ``sessions.sqlite`` in `data_dir`).

        `max_bytes` stops receiving an upload as soon as it is passed (None: no limit
        before the check, which applies its own).
        """
        self.data_dir = data_dir
        self._display_name = display_name
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.db_path = data_dir / "sessions.sqlite"
        self.db = database or Database("sqlite", self.db_path)
        self._check = check_upload
        self._max_bytes = max_bytes
        before, _ = self.db.migrate()
        with self._db() as db:
            if db.dialect == "sqlite":
                self._migrate(db)
            if before < 2:  # the reports index is new: list what is on disk
                self._index_stored_reports(db)

    def _migrate(self, db: Tx) -> None:
        """Bring an older catalogue up to date: columns, the list's index, upload facts.

        The upload columns of newer versions are filled in from the stored files.
        """
        if "owner" not in {r[1] for r in db.execute("PRAGMA table_info(sessions)").fetchall()}:
            db.execute("ALTER TABLE sessions ADD COLUMN owner TEXT NOT NULL DEFAULT ''")
        # The session list's index (PostgreSQL's schema has had it from the start).
        db.execute("CREATE INDEX IF NOT EXISTS sessions_owner_updated ON sessions (owner, updated)")
        have = {row[1] for row in db.execute("PRAGMA table_info(uploads)").fetchall()}
        for column, sql_type in _ADDED_COLUMNS.items():
            if column not in have:
                db.execute(f"ALTER TABLE uploads ADD COLUMN {column} {sql_type}")
        rows = db.execute(
            "SELECT session_id, id, media_type, stored_as FROM uploads "
            "WHERE kind IS NULL OR facts IS NULL"
        ).fetchall()
        for session_id, image_id, media_type, stored_as in rows:
            path = self.session_dir(session_id) / "uploads" / stored_as
            if not path.is_file():
                log.warning("upload %s of a session is missing on disk", image_id)
                continue
            found = inspect_stored(path, media_type)
            db.execute(
                "UPDATE uploads SET kind = ?, facts = ? WHERE session_id = ? AND id = ?",
                (found.kind.value, found.facts.model_dump_json(), session_id, image_id),
            )

    def _db(self) -> AbstractContextManager[Tx]:
        return self.db.transaction()

    def session_dir(self, session_id: str) -> Path:
        """Folder of one session's files."""
        return self.data_dir / "sessions" / session_id

    def create(self, title: str = "New consultation", owner: str = "") -> SessionInfo:
        """Create and return a new session belonging to `owner`."""
        now = time.time()
        info = SessionInfo(uuid.uuid4().hex, title, now, now, owner)
        with self._db() as db:
            db.execute(
                "INSERT INTO sessions (id, title, created, updated, owner) VALUES (?, ?, ?, ?, ?)",
                (info.id, title, now, now, owner),
            )
        self.session_dir(info.id).mkdir(parents=True, exist_ok=True)
        return info

    def get(self, session_id: str, owner: str | None = None) -> SessionInfo:
        """The session with that id, or SessionNotFoundError.

        Also SessionNotFoundError when `owner` is given and the session is someone else's:
        whether it exists is not told.
        """
        with self._db() as db:
            row = db.execute(_SELECT + " WHERE id = ?", (session_id,)).fetchone()
        if row is None or (owner is not None and row[4] != owner):
            raise SessionNotFoundError(f"no session {session_id!r}")
        return SessionInfo(*row)

    def list(self, limit: int = 100, owner: str | None = None) -> list[SessionInfo]:
        """Most recently updated sessions first (only `owner`'s when given)."""
        mine, params = ("WHERE owner = ? ", (owner,)) if owner is not None else ("", ())
        with self._db() as db:
            rows = db.execute(
                f"{_SELECT} {mine}ORDER BY updated DESC LIMIT ?", (*params, limit)
            ).fetchall()
        return [SessionInfo(*r) for r in rows]

    def touch(self, session_id: str, title: str | None = None) -> None:
        """Mark a session as updated now, optionally renaming it.

        Not waited onto the disk: it runs on the event loop twice a turn.
        """
        with self.db.transaction(durable=False) as db:
            if title is None:
                db.execute(
                    "UPDATE sessions SET updated = ? WHERE id = ?", (time.time(), session_id)
                )
            else:
                db.execute(
                    "UPDATE sessions SET updated = ?, title = ? WHERE id = ?",
                    (time.time(), title, session_id),
                )

    def rename(self, session_id: str, title: str) -> SessionInfo:
        """Give a session the person's title (kept whole; blank titles are refused)."""
        title = " ".join(title.split())
        if not title:
            raise InputError("a session title cannot be empty")
        with self._db() as db:
            done = db.execute(
                "UPDATE sessions SET title = ? WHERE id = ?", (title, session_id)
            ).rowcount
        if not done:
            raise SessionNotFoundError(f"no session {session_id!r}")
        return self.get(session_id)

    def delete(self, session_id: str) -> None:
        """Remove a session's rows and its whole folder.

        The folder holds its uploads, unpacked archives, artefacts and reports; the
        conversation's checkpoints are the façade's to delete (`Assistant.delete_session`).
        """
        self.get(session_id)
        with self._db() as db:
            db.execute("DELETE FROM uploads WHERE session_id = ?", (session_id,))
            db.execute("DELETE FROM reports WHERE session_id = ?", (session_id,))
            db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
        shutil.rmtree(self.session_dir(session_id), ignore_errors=True)
        if self.session_dir(session_id).exists():
            raise OSError(f"could not remove every file of session {session_id}")

    def add_upload(self, session_id: str, source: Path, name: str | None = None) -> Attachment:
        """Validate and store a file for a session; the same content twice gives the same id.

        The file is copied into the session's folder under a hidden temporary name (hashed
        on the way, stopped as soon as it passes the byte limit), checked there, and only
        then renamed into place, so a refused or failed upload leaves nothing behind.
        """
        self.get(session_id)
        name = Path(name or source.name).name
        # Messages name the file by a safe name: the original may name the patient.
        label = self._display_name(session_id, name, "", None)
        if not source.is_file():
            raise UploadRejectedError(f"{label}: no such file")
        suffixes = "".join(Path(name).suffixes[-2:]).lower()
        folder = self.session_dir(session_id) / "uploads"
        folder.mkdir(parents=True, exist_ok=True)
        tmp, sha = _receive(source, folder, suffixes, label, self._max_bytes)
        try:
            with self._db() as db:
                row = db.execute(
                    "SELECT id FROM uploads WHERE session_id = ? AND sha256 = ?",
                    (session_id, sha),
                ).fetchone()
            if row is not None:
                return self.attachments(session_id)[row[0]]
            found = self._check(tmp, label)
            modality = found.facts.modality
            shown = self._display_name(session_id, name, found.media_type, modality)
            stored = folder / (sha[:32] + suffixes)
            size = tmp.stat().st_size
            tmp.replace(stored)
            with self._db() as db:
                # Counted and inserted in one write turn: two uploads to the session at once
                # must not both count the same uploads and claim the same image id.
                if db.dialect == "postgres":  # another instance may add to this session now
                    db.execute("SELECT id FROM sessions WHERE id = ? FOR UPDATE", (session_id,))
                else:  # this process's writers' turn, and SQLite's write lock, from here
                    db.execute("BEGIN IMMEDIATE")
                count = db.execute(
                    "SELECT COUNT(*) FROM uploads WHERE session_id = ?", (session_id,)
                ).fetchone()[0]
                image_id = f"img{count + 1}"
                db.execute(
                    "INSERT INTO uploads (session_id, id, name, media_type, sha256, size_bytes,"
                    " stored_as, created, kind, facts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        session_id,
                        image_id,
                        shown,
                        found.media_type,
                        sha,
                        size,
                        stored.name,
                        time.time(),
                        found.kind.value,
                        found.facts.model_dump_json(),
                    ),
                )
        finally:
            tmp.unlink(missing_ok=True)
            # a check that read an archive through the stored-file path unpacked it beside
            shutil.rmtree(unpacked_dir(tmp), ignore_errors=True)
        return self.attachments(session_id)[image_id]

    def update_facts(self, session_id: str, image_id: str, facts: ImageFacts) -> Attachment:
        """Replace the stored facts of an upload (e.g. an image class the person corrected)."""
        with self._db() as db:
            done = db.execute(
                "UPDATE uploads SET facts = ? WHERE session_id = ? AND id = ?",
                (facts.model_dump_json(), session_id, image_id),
            ).rowcount
        if not done:
            raise SessionNotFoundError(f"no upload {image_id!r} in session {session_id!r}")
        return self.attachments(session_id)[image_id]

    def attachments(self, session_id: str) -> dict[str, Attachment]:
        """The session's uploads by id, in upload order."""
        with self._db() as db:
            rows = db.execute(
                "SELECT id, name, media_type, sha256, size_bytes, stored_as, kind, facts "
                "FROM uploads WHERE session_id = ? ORDER BY created",
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
                kind=AttachmentKind(r[6] or AttachmentKind.IMAGE),
                facts=ImageFacts.model_validate_json(r[7]) if r[7] else ImageFacts(),
            )
            for r in rows
        }


    def index_report(self, session_id: str, report: ReportEntry) -> None:
        """Record (or update) a saved report's row in the reports index."""
        with self._db() as db:
            db.execute(
                "DELETE FROM reports WHERE session_id = ? AND id = ?", (session_id, report.id)
            )
            db.execute(
                "INSERT INTO reports (session_id, id, version, status, template, created, updated)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (session_id, report.id, report.version, report.status, report.template,
                 report.created, time.time()),
            )  # fmt: skip

    def report_ids(self, session_id: str) -> builtins.list[str]:
        """Ids of the session's reports from the index, newest first."""
        with self._db() as db:
            rows = db.execute(
                "SELECT id FROM reports WHERE session_id = ? ORDER BY created DESC", (session_id,)
            ).fetchall()
        return [r[0] for r in rows]

    def _index_stored_reports(self, db: Tx) -> None:
        """Fill the reports index from report files written before it existed."""
        for folder in sorted((self.data_dir / "sessions").glob("*/reports")):
            session_id = folder.parent.name
            if db.execute("SELECT 1 FROM sessions WHERE id = ?", (session_id,)).fetchone() is None:
                continue
            for path in folder.glob("*.json"):
                if path.name.endswith(".fhir.json"):
                    continue
                entry = ReportEntry.from_json(path.read_text(encoding="utf-8"))
                db.execute(
                    "INSERT INTO reports (session_id, id, version, status, template, created,"
                    " updated) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (session_id, entry.id, entry.version, entry.status, entry.template,
                     entry.created, path.stat().st_mtime),
                )  # fmt: skip


def _receive(
    source: Path, folder: Path, suffixes: str, name: str, max_bytes: int | None
) -> tuple[Path, str]:
    """Copy `source` to a hidden file in `folder`; return it and the content's SHA-256.

    Stops (and removes the partial copy) as soon as more than `max_bytes` arrived. The
    copy keeps the upload's suffixes, which some slide readers go by.
    """
    fd, name_tmp = tempfile.mkstemp(dir=folder, prefix=".upload-", suffix=suffixes)
    tmp = Path(name_tmp)
    digest = hashlib.sha256()
    written = 0
    try:
        with os.fdopen(fd, "wb") as out, source.open("rb") as src:
            for block in iter(lambda: src.read(_CHUNK), b""):
                written += len(block)
                if max_bytes is not None and written > max_bytes:
                    raise UploadRejectedError(
                        f"{name}: larger than the upload limit of {max_bytes / 1024**2:,.1f} MB"
                    )
                digest.update(block)
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp, digest.hexdigest()


_CHUNK = 1 << 20
