"""The audit log: who opened, changed or exported which session, one JSON line per event.

Only ids, tool and file kinds are written: never a message text, a file name or a header
value. The file is created with mode 0600 under the data directory (`auth.audit_log`).
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

__all__ = ["AuditAction", "AuditLog"]

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
                "time": datetime.now(UTC).isoformat(timespec="seconds"),
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

    def read(self) -> list[dict[str, str | None]]:
        """Every event so far (for tests and `medassist users audit`)."""
        if not self.path.is_file():
            return []
        return [json.loads(x) for x in self.path.read_text(encoding="utf-8").splitlines() if x]
