"""The conversation's checkpointer: LangGraph's SQLite saver, or its PostgreSQL saver.

Both come from LangGraph's own packages; this module only opens the one `storage` names
and makes sure its tables exist before the first turn (deleting a session needs them too).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from assistant.config import StorageSettings

__all__ = ["open_checkpointer"]

_SETUP_LOCK = 7_281_604_520
"""PostgreSQL advisory lock held while the saver creates or migrates its tables."""


@asynccontextmanager
async def open_checkpointer(storage: StorageSettings, data_dir: Path) -> AsyncIterator[Any]:
    """The saver for `storage`, set up, closed when the block ends."""
    if storage.kind == "sqlite":
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        path = str(data_dir / "checkpoints.sqlite")
        async with AsyncSqliteSaver.from_conn_string(path) as sqlite_saver:
            await sqlite_saver.setup()
            yield sqlite_saver
        return
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from psycopg.rows import dict_row
    from psycopg_pool import AsyncConnectionPool

    pool = AsyncConnectionPool(
        storage.url,
        min_size=1,
        max_size=storage.pool_size,
        open=False,
        name="checkpoints",
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
    )
    await pool.open(wait=True, timeout=30)
    try:
        saver = AsyncPostgresSaver(pool)  # type: ignore[arg-type]
        async with pool.connection() as lock:  # instances starting together set up once
            await lock.execute("SELECT pg_advisory_lock(%s)", (_SETUP_LOCK,))
            try:
                await saver.setup()
            finally:
                await lock.execute("SELECT pg_advisory_unlock(%s)", (_SETUP_LOCK,))
        yield saver
    finally:
        await pool.close()
