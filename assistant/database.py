"""The catalogue's database: a SQLite file under the data folder, or one PostgreSQL database.

Everything above this module writes plain SQL with ``?`` placeholders and portable types;
`Database.transaction` hands out a connection of the configured engine and commits when
the block ends (rolls back on an exception). The schema is versioned: `MIGRATIONS` are
applied in order and recorded in ``schema_version``, under a lock, so two app instances
starting at once against one PostgreSQL database migrate it once.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from tools.errors import ConfigError

__all__ = ["MIGRATIONS", "Database", "Dialect", "Migration", "Rows", "Tx", "redact_url"]

Dialect = Literal["sqlite", "postgres"]


class Rows(Protocol):
    """What a statement returns (sqlite3's and psycopg's cursors both fit)."""

    @property
    def rowcount(self) -> int:
        """Rows the statement changed."""

    def fetchone(self) -> Any:
        """The next row, or None."""

    def fetchall(self) -> list[Any]:
        """The remaining rows."""


class Tx(Protocol):
    """One transaction: statements with ``?`` placeholders."""

    dialect: Dialect

    def execute(self, sql: str, params: Sequence[object] = ()) -> Rows:
        """Run one statement."""


@dataclass(frozen=True)
class Migration:
    """One numbered schema step, in SQL for each engine, plus an optional data step."""

    version: int
    description: str
    sqlite: tuple[str, ...]
    postgres: tuple[str, ...]
    after: Callable[[Tx], None] | None = None
    """Runs in the same transaction once the statements are applied (e.g. back-filling)."""


MIGRATIONS: list[Migration] = [
    Migration(
        1,
        "sessions and their uploads",
        (
            "CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, title TEXT NOT NULL,"
            " created REAL NOT NULL, updated REAL NOT NULL, owner TEXT NOT NULL DEFAULT '')",
            "CREATE TABLE IF NOT EXISTS uploads (session_id TEXT NOT NULL REFERENCES"
            " sessions(id), id TEXT NOT NULL, name TEXT NOT NULL, media_type TEXT NOT NULL,"
            " sha256 TEXT NOT NULL, size_bytes INTEGER NOT NULL, stored_as TEXT NOT NULL,"
            " created REAL NOT NULL, kind TEXT, facts TEXT, PRIMARY KEY (session_id, id),"
            " UNIQUE (session_id, sha256))",
        ),
        (
            "CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, title TEXT NOT NULL,"
            " created DOUBLE PRECISION NOT NULL, updated DOUBLE PRECISION NOT NULL,"
            " owner TEXT NOT NULL DEFAULT '')",
            "CREATE INDEX IF NOT EXISTS sessions_owner_updated ON sessions (owner, updated)",
            "CREATE TABLE IF NOT EXISTS uploads (session_id TEXT NOT NULL REFERENCES"
            " sessions(id) ON DELETE CASCADE, id TEXT NOT NULL, name TEXT NOT NULL,"
            " media_type TEXT NOT NULL, sha256 TEXT NOT NULL, size_bytes BIGINT NOT NULL,"
            " stored_as TEXT NOT NULL, created DOUBLE PRECISION NOT NULL, kind TEXT,"
            " facts TEXT, PRIMARY KEY (session_id, id), UNIQUE (session_id, sha256))",
        ),
    ),
    Migration(
        2,
        "reports index and audit log",
        (
            "CREATE TABLE IF NOT EXISTS reports (session_id TEXT NOT NULL, id TEXT NOT NULL,"
            " version INTEGER NOT NULL, status TEXT NOT NULL, template TEXT NOT NULL,"
            " created REAL NOT NULL, updated REAL NOT NULL, PRIMARY KEY (session_id, id))",
            "CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
            " time TEXT NOT NULL, username TEXT NOT NULL, action TEXT NOT NULL,"
            " session TEXT, detail TEXT NOT NULL)",
        ),
        (
            "CREATE TABLE IF NOT EXISTS reports (session_id TEXT NOT NULL REFERENCES"
            " sessions(id) ON DELETE CASCADE, id TEXT NOT NULL, version INTEGER NOT NULL,"
            " status TEXT NOT NULL, template TEXT NOT NULL, created DOUBLE PRECISION NOT NULL,"
            " updated DOUBLE PRECISION NOT NULL, PRIMARY KEY (session_id, id))",
            "CREATE TABLE IF NOT EXISTS audit (seq BIGSERIAL PRIMARY KEY, time TEXT NOT NULL,"
            " username TEXT NOT NULL, action TEXT NOT NULL, session TEXT,"
            " detail TEXT NOT NULL)",
        ),
    ),
]
"""The catalogue's schema, oldest first. Append; never edit a step that has shipped."""

_LOCK_KEY = 7_281_604_519
"""PostgreSQL advisory lock held while migrating (any constant shared by all instances)."""


def redact_url(url: str) -> str:
    """The URL with any password replaced, for messages and logs."""
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else url


class _SqliteTx:
    dialect: Dialect = "sqlite"

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def execute(self, sql: str, params: Sequence[object] = ()) -> Rows:
        return self._db.execute(sql, tuple(params))


class _PostgresTx:
    dialect: Dialect = "postgres"

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[object] = ()) -> Rows:
        # Our statements hold no literal '?', so the placeholder maps one to one.
        result: Rows = self._conn.execute(sql.replace("?", "%s"), tuple(params))
        return result


class Database:
    """The catalogue database named by `url` ("sqlite" means the file `sqlite_path`)."""

    def __init__(self, url: str, sqlite_path: Path, *, pool_size: int = 10) -> None:
        self.url = url
        self.dialect: Dialect = "sqlite" if url == "sqlite" else "postgres"
        self.sqlite_path = sqlite_path
        self._pool: Any = None
        if self.dialect == "postgres":
            self._pool = _open_pool(url, pool_size)
        self._idle: sqlite3.Connection | None = None
        self._idle_lock = threading.Lock()

    def __repr__(self) -> str:
        where = self.sqlite_path if self.dialect == "sqlite" else redact_url(self.url)
        return f"Database({self.dialect}: {where})"

    @contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[Tx]:
        """A connection in a transaction: committed when the block ends, else rolled back.

        `durable=False` commits without waiting for the disk (bookkeeping such as a
        session's last-activity time): a power cut may lose the change, never half of it.
        """
        if self._pool is not None:
            with self._pool.connection() as conn, conn.transaction():
                if not durable:
                    conn.execute("SET LOCAL synchronous_commit TO OFF")
                yield _PostgresTx(conn)
            return
        self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.sqlite_path, timeout=30)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA foreign_keys=ON")
            if not durable:  # in WAL mode: no fsync at commit; the next checkpoint syncs
                db.execute("PRAGMA synchronous=NORMAL")
            with db:
                yield _SqliteTx(db)
            self._hold_open()
        finally:
            db.close()

    def migrate(self, migrations: Sequence[Migration] = MIGRATIONS) -> tuple[int, int]:
        """Bring the schema up to the newest step; return the versions before and after."""
        with self.transaction() as tx:
            if tx.dialect == "postgres":
                tx.execute(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})")
            tx.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY,"
                " description TEXT NOT NULL, applied REAL NOT NULL)"
            )
            done = {row[0] for row in tx.execute("SELECT version FROM schema_version").fetchall()}
            before = max(done, default=0)
            for step in migrations:
                if step.version in done:
                    continue
                for sql in step.sqlite if tx.dialect == "sqlite" else step.postgres:
                    tx.execute(sql)
                if step.after is not None:
                    step.after(tx)
                tx.execute(
                    "INSERT INTO schema_version (version, description, applied) VALUES (?, ?, ?)",
                    (step.version, step.description, time.time()),
                )
                done.add(step.version)
        return before, max(done, default=0)

    def version(self) -> int:
        """The newest schema step applied (0: none, or no database yet)."""
        if self.dialect == "sqlite" and not self.sqlite_path.is_file():
            return 0
        with self.transaction() as tx:
            table = tx.execute(
                "SELECT name FROM sqlite_master WHERE name = 'schema_version'"
                if tx.dialect == "sqlite"
                else "SELECT to_regclass('schema_version')"
            ).fetchone()
            if table is None or table[0] is None:
                return 0
            row = tx.execute("SELECT MAX(version) FROM schema_version").fetchone()
        return int(row[0] or 0)

    def _hold_open(self) -> None:
        """Keep one idle SQLite connection on the WAL while the database is in use.

        The last connection to close checkpoints the WAL into the file and deletes it, and
        the next one creates it again: ~24 ms of fsyncs per transaction on the development
        VM, on the event loop for a session's timestamp. With this one open, a
        transaction's own connection is never the last, and a commit costs ~0.5 ms.
        """
        with self._idle_lock:
            if self._idle is not None:
                return
            idle = sqlite3.connect(self.sqlite_path, check_same_thread=False)
            idle.execute("SELECT count(*) FROM sqlite_master").fetchone()  # maps the WAL
            if idle.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                self._idle = idle
            else:  # nothing committed in WAL mode yet: try after the next transaction
                idle.close()

    def close(self) -> None:
        """Close the connection pool (PostgreSQL) or the idle connection (SQLite)."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        with self._idle_lock:
            if self._idle is not None:
                self._idle.close()
                self._idle = None


def _open_pool(url: str, size: int) -> Any:
    """A psycopg connection pool, after one plain connection so a wrong URL fails at once."""
    import psycopg
    from psycopg_pool import ConnectionPool

    try:
        with psycopg.connect(url, connect_timeout=10):
            pass
    except psycopg.Error as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(
            f"cannot use the PostgreSQL database at {redact_url(url)}: {reason}; "
            "check storage.url and that the server is running"
        ) from None
    return ConnectionPool(url, min_size=1, max_size=size, open=True, name="catalogue")
