"""The session's record of slide navigation: overviews, zooms and notes, in order.

One JSON object per line in ``<session_dir>/slides/visits.jsonl``; appends are
serialised by a lock because synchronous tools run in worker threads.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

VisitKind = Literal["overview", "zoom", "note"]
_LOCK = threading.Lock()


class Visit(BaseModel):
    """One navigation step on one slide; boxes are in level-0 pixels."""

    seq: int = Field(description="1-based position among all records of the session.")
    kind: VisitKind
    image_id: str
    x: int | None = None
    y: int | None = None
    width: int | None = None
    height: int | None = None
    magnification: float | None = None
    artifact: str | None = Field(default=None, description="Image, session-relative.")
    text: str | None = Field(default=None, description="The note, for kind='note'.")
    time: str = ""


def visits_path(session_dir: Path) -> Path:
    """Return where a session's visits are stored."""
    return session_dir / "slides" / "visits.jsonl"


def record_visit(session_dir: Path, visit: Visit) -> Visit:
    """Append `visit` with its sequence number and time set; return the stored record."""
    path = visits_path(session_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _LOCK:
        seq = len(list_visits(session_dir)) + 1
        stored = visit.model_copy(
            update={"seq": seq, "time": datetime.now(UTC).isoformat(timespec="seconds")}
        )
        with path.open("a", encoding="utf-8") as fh:
            fh.write(stored.model_dump_json(exclude_none=True) + "\n")
    return stored


def list_visits(
    session_dir: Path, image_id: str | None = None, kind: VisitKind | None = None
) -> list[Visit]:
    """Return the session's visits in order, optionally for one slide and of one kind."""
    path = visits_path(session_dir)
    if not path.is_file():
        return []
    visits = [
        Visit.model_validate_json(line)
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    return [
        v
        for v in visits
        if (image_id is None or v.image_id == image_id) and (kind is None or v.kind == kind)
    ]
