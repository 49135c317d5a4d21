"""`medassist storage`: where state lives, and the one-command move from SQLite to PostgreSQL.

``migrate`` copies a SQLite data folder's catalogue (sessions, uploads, reports index),
its audit log and every checkpoint of every conversation into a PostgreSQL database,
through LangGraph's own savers on both sides. Files stay where they are: point every
instance at the same data folder and the database, and sessions go on where they were.
Running it again copies only what is not there yet.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.checkpoints import open_checkpointer
from assistant.config import AppConfig, StorageSettings, load_config
from assistant.database import MIGRATIONS, Database, redact_url
from assistant.sessions import SessionStore
from tools.errors import ConfigError

__all__ = ["add_storage_commands", "migrate_to_postgres"]

_TABLES = {
    "sessions": ("id", "title", "created", "updated", "owner"),
    "uploads": (
        "session_id", "id", "name", "media_type", "sha256", "size_bytes", "stored_as",
        "created", "kind", "facts",
    ),
    "reports": ("session_id", "id", "version", "status", "template", "created", "updated"),
}  # fmt: skip
"""Catalogue tables in copy order (uploads and reports refer to sessions)."""


@dataclass
class MigrationReport:
    """What `migrate_to_postgres` copied."""

    rows: dict[str, int]
    conversations: int = 0
    checkpoints: int = 0
    audit_events: int = 0

    def summary(self) -> str:
        """One line per kind of thing."""
        lines = [f"{table}: {n} row(s) copied" for table, n in self.rows.items()]
        lines.append(
            f"checkpoints: {self.checkpoints} of {self.conversations} conversation(s) copied"
        )
        lines.append(f"audit log: {self.audit_events} event(s) copied")
        return "\n".join(lines)


def _copy_rows(source: Database, target: Database) -> dict[str, int]:
    copied: dict[str, int] = {}
    for table, columns in _TABLES.items():
        with source.transaction() as tx:
            rows = tx.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall()
        marks = ", ".join("?" for _ in columns)
        sql = (
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}) ON CONFLICT DO NOTHING"
        )
        n = 0
        with target.transaction() as tx:
            for row in rows:
                n += tx.execute(sql, tuple(row)).rowcount
        copied[table] = n
    return copied


def _copy_audit(path: Path, target: Database) -> int:
    """The audit file's events, unless the database has audit events already."""
    if not path.is_file():
        return 0
    with target.transaction() as tx:
        if tx.execute("SELECT COUNT(*) FROM audit").fetchone()[0]:
            return 0
        events = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x]
        for e in events:
            tx.execute(
                "INSERT INTO audit (time, username, action, session, detail)"
                " VALUES (?, ?, ?, ?, ?)",
                (e["time"], e["user"], e["action"], e.get("session"), e.get("detail", "")),
            )
    return len(events)


async def _copy_checkpoints(data_dir: Path, target: StorageSettings) -> tuple[int, int]:
    """Every checkpoint and pending write, oldest first, through both savers."""
    tuples_by_thread: dict[str, list[Any]] = defaultdict(list)
    async with open_checkpointer(StorageSettings(), data_dir) as source:
        async for item in source.alist(None):
            tuples_by_thread[item.config["configurable"]["thread_id"]].append(item)
    threads = checkpoints = 0
    async with open_checkpointer(target, data_dir) as dest:
        for thread_id, items in tuples_by_thread.items():
            config = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
            if await dest.aget_tuple(config) is not None:
                continue  # copied by an earlier run
            threads += 1
            for item in sorted(items, key=lambda t: t.checkpoint["id"]):
                namespace = item.config["configurable"]["checkpoint_ns"]
                parent = item.parent_config or {
                    "configurable": {"thread_id": thread_id, "checkpoint_ns": namespace}
                }
                await dest.aput(
                    parent, item.checkpoint, item.metadata, item.checkpoint["channel_versions"]
                )
                by_task: dict[str, list[tuple[str, Any]]] = defaultdict(list)
                for task_id, channel, value in item.pending_writes or []:
                    by_task[task_id].append((channel, value))
                for task_id, writes in by_task.items():
                    await dest.aput_writes(item.config, writes, task_id)
                checkpoints += 1
    return threads, checkpoints


def migrate_to_postgres(config: AppConfig, url: str) -> MigrationReport:
    """Copy the SQLite state under `config.data_dir` into the PostgreSQL database at `url`."""
    sqlite_file = config.data_dir / "sessions.sqlite"
    if not sqlite_file.is_file():
        raise ConfigError(f"no SQLite sessions database in {config.data_dir}; nothing to migrate")
    target_settings = StorageSettings(url=url)
    if target_settings.kind != "postgres":
        raise ConfigError("`medassist storage migrate --to` needs a postgresql:// URL")
    source = SessionStore(config.data_dir).db  # opening it brings an old file up to date
    target = Database(url, sqlite_file)
    try:
        target.migrate()
        report = MigrationReport(_copy_rows(source, target))
        audit_file = config.auth.audit_log or config.data_dir / "audit.log"
        report.audit_events = _copy_audit(audit_file, target)
    finally:
        target.close()
    report.conversations, report.checkpoints = asyncio.run(
        _copy_checkpoints(config.data_dir, target_settings)
    )
    return report


def cmd_storage(args: argparse.Namespace) -> int:
    """Show where state lives, or migrate it to PostgreSQL."""
    config = load_config({"data_dir": str(args.data_dir.resolve())} if args.data_dir else {})
    if args.action == "info":
        database = Database(config.storage.url, config.data_dir / "sessions.sqlite")
        try:
            sqlite = database.dialect == "sqlite"
            where = database.sqlite_path if sqlite else redact_url(database.url)
            print(f"storage: {database.dialect} ({where})")
            print(f"files: {config.data_dir}")
            print(f"schema version: {database.version()} (newest: {MIGRATIONS[-1].version})")
        finally:
            database.close()
        return 0
    url = args.to or (config.storage.url if config.storage.kind == "postgres" else None)
    if not url:
        raise ConfigError("say where to: `medassist storage migrate --to postgresql://…`")
    report = migrate_to_postgres(config, url)
    print(report.summary())
    print(
        f"\nDone. Start every instance with storage.url set to {redact_url(url)} "
        f"(MEDASSIST_STORAGE__URL=…) and data_dir {config.data_dir} (shared by all instances)."
    )
    return 0


def add_storage_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `medassist storage`."""
    p = sub.add_parser(
        "storage",
        help="where sessions are kept; move a SQLite data folder to PostgreSQL",
        description="Show the storage in use (info), or copy a SQLite data folder's sessions, "
        "uploads index, reports index, audit log and conversation checkpoints into a "
        "PostgreSQL database (migrate). Files stay in the data folder.",
    )
    p.add_argument("action", choices=["info", "migrate"])
    p.add_argument("--to", metavar="URL", help="postgresql://user@host:5432/database (migrate)")
    p.add_argument("--data-dir", type=Path, help="data directory (default .data)")
    p.set_defaults(func=cmd_storage)
