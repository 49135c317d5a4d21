"""The conversation's checkpointer: LangGraph's SQLite saver, or its PostgreSQL saver.

Both come from LangGraph's own packages; this module only opens the one `storage` names
and makes sure its tables exist before the first turn (deleting a session needs them too).

On SQLite the saver is LangGraph's synchronous `SqliteSaver`, each operation run whole on
one thread of its own (`ThreadedSqliteSaver`). LangGraph's `AsyncSqliteSaver` goes through
aiosqlite, where every statement, fetch and commit is a trip to its thread and back through
the event loop: three to five per operation, ten operations per turn. Under twenty turns at
once each trip waits a full turn of a busy loop, and a turn's last checkpoints were written
about 0.2 s after its answer had ended (`BENCHMARKS.md`, "Checkpoints in one trip").
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, closing
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)
from langgraph.checkpoint.sqlite import SqliteSaver
from typing_extensions import override

from assistant.config import StorageSettings

__all__ = ["ThreadedSqliteSaver", "open_checkpointer"]

_SETUP_LOCK = 7_281_604_520
"""PostgreSQL advisory lock held while the saver creates or migrates its tables."""

T = TypeVar("T")


class ThreadedSqliteSaver(SqliteSaver):
    """`SqliteSaver` with an async API: each operation runs whole on the saver's one thread.

    One trip to that thread and back per operation, serialising included, so the event loop
    neither encodes checkpoints nor waits on the disk. The thread keeps the operations in
    the order they were asked for; the saver's own lock guards the connection.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        super().__init__(conn)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="checkpoints")

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn)

    @override
    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await self._run(partial(self.get_tuple, config))

    @override
    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        found = self.list(config, filter=filter, before=before, limit=limit)
        items: list[CheckpointTuple] = await self._run(partial(list, found))
        for item in items:
            yield item

    @override
    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await self._run(partial(self.put, config, checkpoint, metadata, new_versions))

    @override
    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        await self._run(partial(self.put_writes, config, writes, task_id, task_path))

    @override
    async def adelete_thread(self, thread_id: str) -> None:
        await self._run(partial(self.delete_thread, thread_id))

    def close(self) -> None:
        """Wait for the operations asked for, then stop the thread (not the connection)."""
        self._thread.shutdown(wait=True)


@asynccontextmanager
async def open_checkpointer(storage: StorageSettings, data_dir: Path) -> AsyncIterator[Any]:
    """The saver for `storage`, set up, closed when the block ends."""
    if storage.kind == "sqlite":
        path = data_dir / "checkpoints.sqlite"
        with closing(sqlite3.connect(path, check_same_thread=False)) as conn:
            saver = ThreadedSqliteSaver(conn)
            try:
                await saver._run(saver.setup)
                yield saver
            finally:
                await asyncio.to_thread(saver.close)
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
        pg_saver = AsyncPostgresSaver(pool)  # type: ignore[arg-type]
        async with pool.connection() as lock:  # instances starting together set up once
            await lock.execute("SELECT pg_advisory_lock(%s)", (_SETUP_LOCK,))
            try:
                await pg_saver.setup()
            finally:
                await lock.execute("SELECT pg_advisory_unlock(%s)", (_SETUP_LOCK,))
        yield pg_saver
    finally:
        await pool.close()
