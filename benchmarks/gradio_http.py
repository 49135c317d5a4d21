"""A Gradio client that does on the wire what a browser tab does, and little else.

`gradio_client` is built for scripts, not for many sessions at once: each stream's messages
are polled from a queue every 50 ms, every streamed update deep-copies the whole output
before applying its diff, and each request opens a new connection. Twenty of them on the
machine that also runs the model server cost it CPU no browser elsewhere would. This client
makes the same requests as Gradio's JavaScript client (upload, join the queue, read the
session's event stream, apply each update's diff in place) on one connection pool per tab.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx

__all__ = ["BrowserTab", "apply_diff"]


def apply_diff(value: Any, diff: list[list[Any]]) -> Any:
    """Apply one streamed update's edits (Gradio's `[action, path, value]` list) in place."""
    for action, path, new in diff:
        if not path:
            value = new if action == "replace" else value + new
            continue
        target = value
        for key in path[:-1]:
            target = target[key]
        last = path[-1]
        if action == "replace":
            target[last] = new
        elif action == "append":
            target[last] += new
        elif action == "add":
            if isinstance(target, list):
                target.insert(int(last), new)
            else:
                target[last] = new
        elif action == "delete":
            del target[int(last) if isinstance(target, list) else last]
        else:
            raise ValueError(f"unknown diff action {action!r}")
    return value


class BrowserTab:
    """One browser tab on a Gradio app: its own session hash and connections."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/") + "/"
        self.session_hash = uuid.uuid4().hex[:11]
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(60.0, read=None))
        self.fn_index: dict[str, int] = {}
        self.updates = 0
        """Streamed updates received (over all calls)."""

    async def open(self) -> None:
        """Load the app's config, as the page does when it opens."""
        response = await self.http.get(f"{self.url}config")
        response.raise_for_status()
        config = response.json()
        self.api = f"{self.url}{config.get('api_prefix', '/gradio_api').strip('/')}/"
        self.fn_index = {
            d["api_name"]: d["id"] for d in config["dependencies"] if d.get("api_name")
        }

    async def close(self) -> None:
        await self.http.aclose()

    async def upload(self, path: Path) -> dict[str, Any]:
        """Upload a file; the FileData the app's inputs take."""
        files = [("files", (path.name, path.read_bytes(), "application/octet-stream"))]
        response = await self.http.post(f"{self.api}upload", files=files)
        response.raise_for_status()
        return {"path": response.json()[0], "orig_name": path.name,
                "meta": {"_type": "gradio.FileData"}}  # fmt: skip

    async def call(self, api_name: str, *data: Any) -> list[Any]:
        """Run an event and read its stream to the end; the outputs as last shown."""
        fn_index = self.fn_index[api_name.lstrip("/")]
        body = {"data": list(data), "fn_index": fn_index, "session_hash": self.session_hash,
                "event_data": None, "trigger_id": None}  # fmt: skip
        joined = await self.http.post(f"{self.api}queue/join", json=body)
        joined.raise_for_status()
        event_id = joined.json()["event_id"]
        shown: list[Any] | None = None
        params = {"session_hash": self.session_hash}
        async with self.http.stream("GET", f"{self.api}queue/data", params=params) as stream:
            stream.raise_for_status()
            async for line in stream.aiter_lines():
                if not line.startswith("data:"):
                    continue
                message = json.loads(line[5:])
                if message.get("event_id") not in (None, event_id):
                    continue
                kind = message.get("msg")
                if kind == "process_generating":
                    self.updates += 1
                    data_out = message["output"]["data"]
                    if shown is None:
                        shown = list(data_out)
                    else:
                        shown = [apply_diff(old, d) for old, d in zip(shown, data_out, strict=True)]
                elif kind == "process_completed":
                    if not message.get("success", True):
                        raise RuntimeError(f"the app failed the event: {message.get('output')}")
                    return list(message["output"]["data"])
                elif kind in ("close_stream", "unexpected_error"):
                    raise RuntimeError(f"the event stream ended: {message}")
        raise RuntimeError("the event stream closed before the event completed")
