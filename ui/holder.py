"""The one `Assistant` the UI's handlers share, opened and closed with the web app's lifespan.

The web server's lifespan opens it (its database connection belongs to the server's event
loop) and closes it on shutdown: checkpointer, knowledge bases and model client included.
Handlers reach it with ``await holder.get()``; routes that are not coroutines use
`holder.current`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from assistant.config import AppConfig
from assistant.service import Assistant


class AssistantHolder:
    """Holds the Assistant of one running UI server."""

    def __init__(self, config: AppConfig, **kwargs: Any) -> None:
        self.config = config
        self.kwargs = kwargs
        self._assistant: Assistant | None = None
        self._opened = asyncio.Event()

    @asynccontextmanager
    async def lifespan(self, app: object) -> AsyncIterator[None]:
        """Open the Assistant for the server's lifetime (a FastAPI lifespan)."""
        async with Assistant(self.config, **self.kwargs) as assistant:
            self._assistant = assistant
            self._opened.set()
            try:
                yield
            finally:
                self._assistant = None
                self._opened.clear()

    @property
    def current(self) -> Assistant:
        """The open Assistant; RuntimeError outside the server's lifespan."""
        if self._assistant is None:
            raise RuntimeError("the assistant is not open: the UI server is not running")
        return self._assistant

    async def get(self) -> Assistant:
        """The open Assistant (waits for the lifespan to open it)."""
        await self._opened.wait()
        return self.current
