"""The SQLite catalogue's connection handling: the WAL kept open while in use, and closed;
transactions of one process taking turns; each commit as durable as it asked."""

from __future__ import annotations

import sqlite3
import threading
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


def test_writers_take_turns_and_readers_do_not_wait(tmp_path: Path) -> None:
    """While one thread's transaction has written, another's write waits for its end (and
    then both are committed); a transaction that only reads goes ahead meanwhile."""
    path = tmp_path / "catalogue.sqlite"
    db = Database("sqlite", path)
    with db.transaction() as tx:
        tx.execute("CREATE TABLE t (n INTEGER)")
    wrote, release, read, second_wrote = (threading.Event() for _ in range(4))

    def first() -> None:
        with db.transaction() as tx:
            tx.execute("INSERT INTO t VALUES (1)")
            wrote.set()
            release.wait(10)

    def reader() -> None:
        with db.transaction() as tx:
            assert tx.execute("SELECT n FROM t").fetchall() == []  # not the uncommitted row
        read.set()

    def second() -> None:
        with db.transaction() as tx:
            tx.execute("INSERT INTO t VALUES (2)")
            second_wrote.set()

    threads = [threading.Thread(target=f) for f in (first, reader, second)]
    threads[0].start()
    assert wrote.wait(10)
    threads[1].start()
    assert read.wait(10)
    threads[2].start()
    assert not second_wrote.wait(0.3)  # waits for the first writer's end
    release.set()
    assert second_wrote.wait(10)
    for t in threads:
        t.join(10)
    assert _rows(path) == [(1,), (2,)]
    db.close()


def test_a_nested_transaction_on_the_same_thread_reads_without_waiting(tmp_path: Path) -> None:
    db = Database("sqlite", tmp_path / "catalogue.sqlite")
    with db.transaction() as tx:
        tx.execute("CREATE TABLE t (n INTEGER)")
        tx.execute("INSERT INTO t VALUES (1)")
    done = threading.Event()

    def nested() -> None:
        with db.transaction() as outer:
            outer.execute("SELECT n FROM t").fetchall()
            with db.transaction() as inner:  # as add_upload reads a duplicate's attachment
                assert inner.execute("SELECT n FROM t").fetchall() == [(1,)]
        done.set()

    threading.Thread(target=nested, daemon=True).start()
    assert done.wait(10)
    db.close()


def test_each_commit_is_as_durable_as_asked_on_a_reused_connection(tmp_path: Path) -> None:
    """Connections are kept between transactions: a durable one after a relaxed one is
    committed with SQLite's full sync again (2), a relaxed one with normal (1)."""
    db = Database("sqlite", tmp_path / "catalogue.sqlite")
    seen = []
    for durable in (False, True, False, True):
        with db.transaction(durable=durable) as tx:
            seen.append(tx.execute("PRAGMA synchronous").fetchone()[0])
    assert seen == [1, 2, 1, 2]
    db.close()


def test_a_connection_left_by_a_failed_block_is_not_reused(tmp_path: Path) -> None:
    """A block that fails rolls back; the next transaction works and sees nothing of it."""
    path = tmp_path / "catalogue.sqlite"
    db = Database("sqlite", path)
    with db.transaction() as tx:
        tx.execute("CREATE TABLE t (n INTEGER)")
    try:
        with db.transaction() as tx:
            tx.execute("INSERT INTO t VALUES (1)")
            tx.execute("INSERT INTO nowhere VALUES (1)")
    except sqlite3.OperationalError:
        pass
    with db.transaction() as tx:
        tx.execute("INSERT INTO t VALUES (2)")
    assert _rows(path) == [(2,)]
    db.close()
