"""The audit log: who opened, changed or exported which session.

Only ids, tool and file kinds are written: never a message text, a file name or a header
value. With SQLite storage it is a JSON-lines file created with mode 0600 under the data
directory (`auth.audit_log`); with PostgreSQL it is the database's ``audit`` table, which
every app instance appends to.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from assistant.config import AppConfig
    from assistant.database import Database

__all__ = ["AuditAction", "AuditLog", "AuditSink", "DatabaseAuditLog", "open_audit"]

AuditAction = Literal[
    "login",
    "new",
    "open",
    "message",
    "upload",
    "run_tool",
    "rename",
    "delete",
    "draft_report",
    "save_report",
    "download",
    "view_slide",
    "view_image",
    "pacs_attach",
    "pacs_send",
    "refused",
]


AuditEvent = dict[str, str | None]
"""time (UTC, ISO), user, action, session, detail."""


class AuditSink(Protocol):
    """Where audit events go."""

    def record(
        self, user: str, action: AuditAction, session_id: str | None = None, detail: str = ""
    ) -> None:
        """Append one event."""

    def read(self) -> list[AuditEvent]:
        """Every event so far, oldest first."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def open_audit(config: AppConfig, database: Database) -> AuditSink:
    """The audit log `config` names: the file (SQLite storage) or the database's table."""
    if config.storage.kind == "postgres" and config.auth.audit_log is None:
        return DatabaseAuditLog(database)
    return AuditLog(config.auth.audit_log or config.data_dir / "audit.log")


class DatabaseAuditLog:
    """Events as rows of the catalogue database's ``audit`` table (shared by instances)."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def record(
        self, user: str, action: AuditAction, session_id: str | None = None, detail: str = ""
    ) -> None:
        """Append one event: time (UTC), user, action, session and a short detail."""
        with self.database.transaction() as tx:
            tx.execute(
                "INSERT INTO audit (time, username, action, session, detail)"
                " VALUES (?, ?, ?, ?, ?)",
                (_now(), user, action, session_id, detail),
            )

    def read(self) -> list[AuditEvent]:
        """Every event so far, oldest first."""
        with self.database.transaction() as tx:
            rows = tx.execute(
                "SELECT time, username, action, session, detail FROM audit ORDER BY seq"
            ).fetchall()
        keys = ("time", "user", "action", "session", "detail")
        return [dict(zip(keys, row, strict=True)) for row in rows]


class AuditLog:
    """Append-only JSON lines; safe to call from several threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def record(
        self, user: str, action: AuditAction, session_id: str | None = None, detail: str = ""
    ) -> None:
        """Append one event: time (UTC), user, action, session and a short detail."""
        line = json.dumps(
            {
                "time": _now(),
                "user": user,
                "action": action,
                "session": session_id,
                "detail": detail,
            },
            ensure_ascii=False,
        )
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as out:
                out.write(line + "\n")

    def read(self) -> list[AuditEvent]:
        """Every event so far (for tests and `medassist users audit`)."""
        if not self.path.is_file():
            return []
        return [json.loads(x) for x in self.path.read_text(encoding="utf-8").splitlines() if x]
