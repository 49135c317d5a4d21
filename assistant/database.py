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

    def __init__(self, db: sqlite3.Connection, turn: threading.RLock) -> None:
        self._db = db
        self._turn = turn
        self.writing = False
        """Whether it holds the file's turn (from its first write to its end)."""

    def execute(self, sql: str, params: Sequence[object] = ()) -> Rows:
        if not self.writing and sql.lstrip()[:6].upper() != "SELECT":
            if not self._turn.acquire(timeout=_WAIT_S):
                raise sqlite3.OperationalError("database is locked")
            self.writing = True
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
        self._spare: list[sqlite3.Connection] = []
        self._spare_lock = threading.Lock()
        self._turn = _file_lock(sqlite_path)  # SQLite only; unused on PostgreSQL

    def __repr__(self) -> str:
        where = self.sqlite_path if self.dialect == "sqlite" else redact_url(self.url)
        return f"Database({self.dialect}: {where})"

    @contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[Tx]:
        """A connection in a transaction: committed when the block ends, else rolled back.

        `durable=False` commits without waiting for the disk (bookkeeping such as a
        session's last-activity time): a power cut may lose the change, never half of it.

        SQLite: each transaction runs on an open connection kept for the next. Those of
        this process that write take turns on the file (`_file_lock`) from their first
        statement that is not a SELECT to their end; reading ones never wait. Left to
        SQLite, a writer that finds the file locked sleeps and polls (1, 2, 5, 10 … 100
        ms) and can lose every poll to busier threads: measured 310 ms for one session's
        row, on the event loop, with twenty uploads at once; here it wakes as the writer
        before it commits. Other processes (the command line while the app runs) still
        meet SQLite's own lock and its `_WAIT_S` timeout.
        """
        if self._pool is not None:
            with self._pool.connection() as conn, conn.transaction():
                if not durable:
                    conn.execute("SET LOCAL synchronous_commit TO OFF")
                yield _PostgresTx(conn)
            return
        db = self._take()
        tx = _SqliteTx(db, self._turn)
        try:
            # in WAL mode NORMAL skips the fsync at commit; the next checkpoint syncs
            db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            with db:
                yield tx
        except BaseException:
            db.close()  # whatever state it was left in, it is not reused
            raise
        finally:
            if tx.writing:
                self._turn.release()
        self._give(db)

    def _take(self) -> sqlite3.Connection:
        """An open connection to the SQLite file: a spare one, or a new one."""
        with self._spare_lock:
            if self._spare:
                return self._spare.pop()
        self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        # Used by one thread at a time (the file's turn), not always the one that opened it.
        db = sqlite3.connect(self.sqlite_path, timeout=_WAIT_S, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA foreign_keys=ON")
        return db

    def _give(self, db: sqlite3.Connection) -> None:
        """Keep a connection for the next transaction.

        Kept connections also keep the WAL open: the last connection to close checkpoints
        the WAL into the file and deletes it, and the next one creates it again (~24 ms of
        fsyncs per transaction on the development VM).
        """
        with self._spare_lock:
            if len(self._spare) < _SPARE:
                self._spare.append(db)
                return
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

    def close(self) -> None:
        """Close the connection pool (PostgreSQL) or the kept connections (SQLite)."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        with self._spare_lock:
            spare, self._spare = self._spare, []
        for db in spare:
            db.close()


_SPARE = 8
"""Open SQLite connections kept per database for the next transactions."""

_WAIT_S = 30.0
"""How long a SQLite writer waits for the file before "database is locked"."""

_FILE_LOCKS: dict[Path, threading.RLock] = {}
_FILE_LOCKS_GUARD = threading.Lock()


def _file_lock(path: Path) -> threading.RLock:
    """The lock this process's writing transactions on the SQLite file `path` take turns by.

    One per file, shared by every `Database` on it; re-entrant, as nested transactions of
    one thread ask for it again.
    """
    key = path.resolve()
    with _FILE_LOCKS_GUARD:
        return _FILE_LOCKS.setdefault(key, threading.RLock())


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
