"""The one `Assistant` the UI's handlers share, opened inside the UI server's event loop."""

from __future__ import annotations

import asyncio
from typing import Any

from assistant.config import AppConfig
from assistant.service import Assistant


class AssistantHolder:
    """Opens the Assistant lazily inside the UI server's event loop (its DB is loop-bound)."""

    def __init__(self, config: AppConfig, **kwargs: Any) -> None:
        self.config = config
        self.kwargs = kwargs
        self._assistant: Assistant | None = None
        self._lock: asyncio.Lock | None = None

    async def get(self) -> Assistant:
        """The open Assistant."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._assistant is None:
                assistant = Assistant(self.config, **self.kwargs)
                self._assistant = await assistant.__aenter__()
            return self._assistant
