"""A Gradio client that does on the wire what a browser tab does, and little else.

`gradio_client` is built for scripts, not for many sessions at once: each stream's messages
are polled from a queue every 50 ms, every streamed update deep-copies the whole output
before applying its diff, and each request opens a new connection. Twenty of them on the
machine that also runs the model server cost it CPU no browser elsewhere would. This client
makes the requests of Gradio's JavaScript client instead, on one connection pool per tab:

- opening the page loads the config and runs the page's load events;
- an event joins the queue and its messages arrive on the tab's one event stream, each
  update's diff applied in place;
- when an event's output changes a component's value, the events listening to that
  component's `change` run (as the page fires them), and so do events chained with
  `.then`; `settle()` waits until none is left;
- a file an output shows (an image in the chat) is fetched once, as soon as it is shown,
  as the page's `<img>` loads it.

JavaScript the page would run (`js=` of an event) is not run; only events with a Python
function reach the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import uuid
from collections import defaultdict
from collections.abc import Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx

__all__ = ["BrowserTab", "apply_diff", "shown_files"]


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


MARKDOWN_IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")
"""A Markdown image, as the chat shows pictures (`ui.render.image_message`)."""


def shown_files(url: str, value: Any) -> set[str]:
    """The URL of each file in an output value of the app at `url`: a Gradio FileData, or
    a Markdown image in a text (resolved against the page, as the browser does)."""
    paths: set[str] = set()

    def walk(x: Any) -> None:
        if isinstance(x, str):
            paths.update(urljoin(url, src) for src in MARKDOWN_IMAGE.findall(x))
        elif isinstance(x, dict):
            if isinstance(x.get("path"), str) and "url" in x:  # a FileData
                paths.add(x["url"] or f"{url}gradio_api/file={x['path']}")
            for v in x.values():
                walk(v)
        elif isinstance(x, list | tuple):
            for v in x:
                walk(v)
        elif hasattr(x, "__dict__"):
            walk(vars(x))

    walk(value)
    return paths


class BrowserTab:
    """One browser tab on a Gradio app: its own session hash, connections and values."""

    def __init__(self, url: str, page_events: bool = True) -> None:
        """`page_events` False: the tab does not run the events the page fires as outputs
        change (a diagnostic, to see what those events cost; the page's load events and
        the images it shows still run)."""
        self.url = url.rstrip("/") + "/"
        self.page_events = page_events
        self.session_hash = uuid.uuid4().hex[:11]
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(60.0, read=None))
        self.fn_index: dict[str, int] = {}
        self.updates = 0
        """Streamed updates received (over all events)."""
        self.events_run = 0
        """Events this tab ran, the ones a page fires by itself included."""
        self.ran: list[str] = []
        """Their names (Gradio's api_name of each), in the order they joined the queue."""
        self.failures: list[str] = []
        """Events fired by the page (change, then) that the app failed, files it could not
        fetch."""
        self.fetched: set[str] = set()
        """URLs of the files shown, each fetched once."""
        self._deps: dict[int, dict[str, Any]] = {}
        self._on_change: dict[int, list[int]] = defaultdict(list)
        self._then: dict[int, list[int]] = defaultdict(list)
        self._values: dict[int, Any] = {}
        self._messages: dict[str, asyncio.Queue[dict[str, Any]]] = defaultdict(asyncio.Queue)
        self._reader: asyncio.Task[None] | None = None
        self._fired: set[asyncio.Task[None]] = set()
        self._running: set[int] = set()
        self._again: set[int] = set()

    async def open(self) -> None:
        """Load the app's config and run its load events, as a page does when it opens.

        The first event of a tab also makes Gradio build the tab's own copy of every
        component's configuration: in a browser that happens when the page opens, not
        when the person sends a message.
        """
        response = await self.http.get(f"{self.url}config")
        response.raise_for_status()
        config = response.json()
        self.api = f"{self.url}{config.get('api_prefix', '/gradio_api').strip('/')}/"
        for dep in config["dependencies"]:
            self._deps[dep["id"]] = dep
            if dep.get("api_name"):
                self.fn_index[dep["api_name"]] = dep["id"]
            for component, event in dep.get("targets", []):
                if event == "change":
                    self._on_change[component].append(dep["id"])
            if dep.get("trigger_after") is not None:
                self._then[dep["trigger_after"]].append(dep["id"])
        self._values = {c["id"]: c.get("props", {}).get("value") for c in config["components"]}
        for dep in config["dependencies"]:
            if any(event == "load" for _, event in dep.get("targets", [])):
                self._fire(dep["id"])
        await self.settle()

    async def settle(self) -> None:
        """Wait until every event the page fired by itself has ended."""
        while self._fired:
            await asyncio.gather(*list(self._fired))

    async def close(self) -> None:
        await self.settle()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self.http.aclose()

    async def upload(self, path: Path) -> dict[str, Any]:
        """Upload a file; the FileData the app's inputs take."""
        files = [("files", (path.name, path.read_bytes(), "application/octet-stream"))]
        response = await self.http.post(f"{self.api}upload", files=files)
        response.raise_for_status()
        return {"path": response.json()[0], "orig_name": path.name,
                "meta": {"_type": "gradio.FileData"}}  # fmt: skip

    async def call(self, api_name: str, *data: Any) -> list[Any]:
        """Run a named event with `data`, as the person triggers it; its final outputs.

        Inputs after those given are sent as the page holds them.
        """
        fn_index = self.fn_index[api_name.lstrip("/")]
        held = [self._values.get(i) for i in self._deps[fn_index]["inputs"][len(data) :]]
        return await self.run(fn_index, *data, *held)

    async def run(self, fn_index: int, *data: Any) -> list[Any]:
        """Run event `fn_index` and follow its messages to the end; its final outputs."""
        dep = self._deps[fn_index]
        body = {"data": list(data), "fn_index": fn_index, "session_hash": self.session_hash,
                "event_data": None, "trigger_id": None}  # fmt: skip
        joined = await self.http.post(f"{self.api}queue/join", json=body)
        joined.raise_for_status()
        event_id = joined.json()["event_id"]
        self.events_run += 1
        self.ran.append(str(dep.get("api_name")))
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read())
        messages = self._messages[event_id]
        shown: list[Any] | None = None
        try:
            while True:
                message = await messages.get()
                kind = message.get("msg")
                # A State is kept on the server; the page learns only that it changed.
                changed = (message.get("output") or {}).get("changed_state_ids") or []
                for state in changed if self.page_events else ():
                    for listener in self._on_change[state]:
                        self._fire(listener)
                if kind == "process_generating":
                    self.updates += 1
                    data_out = message["output"]["data"]
                    if shown is None:
                        shown = list(data_out)
                    else:
                        shown = [apply_diff(old, d) for old, d in zip(shown, data_out, strict=True)]
                    self._show(dep, shown)
                elif kind == "process_completed":
                    ok = message.get("success", True)
                    for after in self._then[fn_index]:
                        if ok or not self._deps[after].get("trigger_only_on_success"):
                            self._fire(after)
                    if not ok:
                        raise RuntimeError(f"the app failed the event: {message.get('output')}")
                    final = list(message["output"]["data"])
                    self._show(dep, final)
                    return final
                elif kind == "stream_ended":
                    raise RuntimeError("the event stream closed before the event completed")
        finally:
            self._messages.pop(event_id, None)

    async def _read(self) -> None:
        """The tab's event stream: each message goes to its event's queue."""
        params = {"session_hash": self.session_hash}
        try:
            async with self.http.stream("GET", f"{self.api}queue/data", params=params) as stream:
                stream.raise_for_status()
                async for line in stream.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    message = json.loads(line[5:])
                    if message.get("msg") == "close_stream":
                        break
                    if "event_id" in message:
                        self._messages[message["event_id"]].put_nowait(message)
        finally:
            self._reader = None
            for queue in self._messages.values():  # events still waiting: restart or fail
                queue.put_nowait({"msg": "stream_ended"})

    def _show(self, dep: dict[str, Any], outputs: list[Any]) -> None:
        """Take the outputs as the page does: fire `change` of each component that changed,
        load each file shown for the first time."""
        for file_url in shown_files(self.url, outputs) - self.fetched:
            self.fetched.add(file_url)
            self._track(self._fetch(file_url))
        for component, value in zip(dep["outputs"], outputs, strict=False):
            if isinstance(value, dict) and value.get("__type__") == "update":
                if "value" not in value:
                    continue  # properties only (or gr.skip()): the value did not change
                value = value["value"]
            if self._values.get(component) != value:
                self._values[component] = value
                for listener in self._on_change[component] if self.page_events else ():
                    self._fire(listener)

    def _fire(self, fn_index: int) -> None:
        """Run an event the page triggers by itself, with the values the page holds."""
        if not self._deps[fn_index].get("backend_fn"):
            return  # JavaScript only: nothing reaches the server
        if fn_index in self._running:  # as "always_last": once more after this one
            self._again.add(fn_index)
            return
        self._track(self._fired_event(fn_index))

    def _track(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` as the page does by itself; `settle()` waits for it."""
        task = asyncio.create_task(work)
        self._fired.add(task)
        task.add_done_callback(self._fired.discard)

    async def _fetch(self, file_url: str) -> None:
        try:
            (await self.http.get(file_url)).raise_for_status()
        except httpx.HTTPError as exc:
            self.failures.append(f"{file_url}: {exc}")

    async def _fired_event(self, fn_index: int) -> None:
        self._running.add(fn_index)
        try:
            inputs = [self._values.get(i) for i in self._deps[fn_index]["inputs"]]
            await self.run(fn_index, *inputs)
        except (RuntimeError, httpx.HTTPError) as exc:
            self.failures.append(f"{self._deps[fn_index].get('api_name')}: {exc}")
        finally:
            self._running.discard(fn_index)
        if fn_index in self._again:
            self._again.discard(fn_index)
            self._fire(fn_index)
