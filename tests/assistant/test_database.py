"""The SQLite catalogue's connection handling: the WAL kept open while in use, and closed."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from assistant.database import Database


def _rows(path: Path) -> list[tuple[int]]:
    with closing(sqlite3.connect(path)) as other:  # another process's view
        return other.execute("SELECT n FROM t ORDER BY n").fetchall()


def test_commits_keep_the_wal_open_and_close_folds_it_into_the_file(tmp_path: Path) -> None:
    path = tmp_path / "data" / "catalogue.sqlite"
    db = Database("sqlite", path)
    with db.transaction() as tx:
        tx.execute("CREATE TABLE t (n INTEGER)")
    with db.transaction() as tx:
        tx.execute("INSERT INTO t VALUES (1)")
    with db.transaction(durable=False) as tx:  # committed, only not waited onto the disk
        tx.execute("INSERT INTO t VALUES (2)")
    assert path.with_name("catalogue.sqlite-wal").exists()  # not re-created per commit
    assert _rows(path) == [(1,), (2,)]
    db.close()
    assert not path.with_name("catalogue.sqlite-wal").exists()
    assert _rows(path) == [(1,), (2,)]


def test_a_failed_block_is_rolled_back(tmp_path: Path) -> None:
    db = Database("sqlite", tmp_path / "catalogue.sqlite")
    with db.transaction() as tx:
        tx.execute("CREATE TABLE t (n INTEGER)")
    try:
        with db.transaction(durable=False) as tx:
            tx.execute("INSERT INTO t VALUES (1)")
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert _rows(tmp_path / "catalogue.sqlite") == []
    db.close()
