"""SQLite metadata beside the vectors: chunks, ingested sources, and knowledge-base facts.

Row ids of `chunks` are the FAISS ids. The `meta` table records the embedder that built
the base and the generation of the index files that belong to the committed rows.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from retrieval.types import Chunk, Modality, Section

__all__ = ["MetadataStore", "citation_id"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sources (source TEXT PRIMARY KEY, sha256 TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,
    citation_id TEXT NOT NULL UNIQUE,
    text TEXT NOT NULL,
    source TEXT NOT NULL,
    section TEXT NOT NULL,
    kind TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    modality TEXT,
    date TEXT,
    image_path TEXT,
    doc_key TEXT NOT NULL DEFAULT '',
    position INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS chunks_source ON chunks(source);
"""
_COLUMNS = (
    "citation_id, text, source, section, kind, title, modality, date, image_path, doc_key, position"
)


def citation_id(source: str, doc_key: str, section: str, position: int, text: str) -> str:
    """Stable id of a passage: a hash of where it comes from and what it says."""
    key = "\x1f".join([source, doc_key, section, str(position), text])
    return "kb-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:10]


def _row_to_chunk(row: sqlite3.Row) -> Chunk:
    return Chunk(
        citation_id=row["citation_id"],
        text=row["text"],
        source=row["source"],
        section=Section(row["section"]),
        kind=row["kind"],
        title=row["title"],
        modality=Modality(row["modality"]) if row["modality"] else None,
        date=row["date"],
        image_path=row["image_path"],
        doc_key=row["doc_key"],
        position=row["position"],
    )


class MetadataStore:
    """The SQLite side of a knowledge base."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE … COMMIT, rolled back on any exception."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def get_meta(self, key: str) -> str | None:
        """Read a recorded fact (None if unset)."""
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row["value"])

    def set_meta(self, key: str, value: str) -> None:
        """Record a fact (inside the caller's transaction, if any)."""
        self._conn.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def source_hash(self, source: str) -> str | None:
        """SHA-256 of a source when it was ingested, or None if never."""
        row = self._conn.execute("SELECT sha256 FROM sources WHERE source = ?", (source,))
        found = row.fetchone()
        return None if found is None else str(found["sha256"])

    def set_source_hash(self, source: str, sha256: str) -> None:
        """Remember that `source` with this content has been ingested."""
        self._conn.execute(
            "INSERT INTO sources(source, sha256) VALUES (?, ?) "
            "ON CONFLICT(source) DO UPDATE SET sha256 = excluded.sha256",
            (source, sha256),
        )

    def all_sources(self) -> dict[str, str]:
        """Every ingested source with its content hash."""
        rows = self._conn.execute("SELECT source, sha256 FROM sources").fetchall()
        return {str(r["source"]): str(r["sha256"]) for r in rows}

    def known_citations(self, ids: Iterable[str]) -> set[str]:
        """Which of `ids` are already stored."""
        wanted = list(ids)
        found: set[str] = set()
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            marks = ",".join("?" * len(part))
            rows = self._conn.execute(
                f"SELECT citation_id FROM chunks WHERE citation_id IN ({marks})", part
            )
            found.update(r["citation_id"] for r in rows)
        return found

    def insert(self, chunks: Sequence[Chunk]) -> list[int]:
        """Insert chunks (inside a transaction) and return their row ids."""
        ids: list[int] = []
        for c in chunks:
            cursor = self._conn.execute(
                f"INSERT INTO chunks({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    c.citation_id,
                    c.text,
                    c.source,
                    c.section.value,
                    c.kind,
                    c.title,
                    c.modality.value if c.modality else None,
                    c.date,
                    c.image_path,
                    c.doc_key,
                    c.position,
                ),
            )
            ids.append(int(cursor.lastrowid or 0))
        return ids

    def committed(self) -> tuple[int, int]:
        """The committed index generation and passage count, read in one statement."""
        row = self._conn.execute(
            "SELECT (SELECT value FROM meta WHERE key = 'generation'), "
            "(SELECT COUNT(*) FROM chunks)"
        ).fetchone()
        return int(row[0] or 0), int(row[1])

    def count(self) -> int:
        """Count stored chunks."""
        return int(self._conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])

    def get(self, ids: Sequence[int]) -> dict[int, Chunk]:
        """Chunks by row id."""
        out: dict[int, Chunk] = {}
        for start in range(0, len(ids), 500):
            part = [int(i) for i in ids[start : start + 500]]
            marks = ",".join("?" * len(part))
            rows = self._conn.execute(f"SELECT * FROM chunks WHERE id IN ({marks})", part)
            out.update((int(r["id"]), _row_to_chunk(r)) for r in rows)
        return out

    def by_citation(self, cid: str) -> Chunk | None:
        """Look up the chunk with citation id `cid` (None if unknown)."""
        row = self._conn.execute("SELECT * FROM chunks WHERE citation_id = ?", (cid,)).fetchone()
        return None if row is None else _row_to_chunk(row)

    def all_ids_and_texts(self) -> tuple[list[int], list[str]]:
        """Every row id and text, in id order (for BM25)."""
        rows = self._conn.execute("SELECT id, text FROM chunks ORDER BY id").fetchall()
        return [int(r["id"]) for r in rows], [str(r["text"]) for r in rows]

    def all_chunks(self) -> dict[int, Chunk]:
        """Every chunk by row id (used to apply metadata filters)."""
        rows = self._conn.execute("SELECT * FROM chunks ORDER BY id").fetchall()
        return {int(r["id"]): _row_to_chunk(r) for r in rows}

    def counts_by(self, column: str) -> dict[str, int]:
        """Chunk counts grouped by a metadata column (section, modality, kind)."""
        if column not in {"section", "modality", "kind"}:
            raise ValueError(f"cannot group by {column!r}; use section, modality or kind")
        rows = self._conn.execute(f"SELECT {column} AS k, COUNT(*) AS n FROM chunks GROUP BY k")
        return {str(r["k"]): int(r["n"]) for r in rows}
