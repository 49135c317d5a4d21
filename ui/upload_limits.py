"""Refuse an oversized upload while it arrives, by what the file is, not after it is written.

Gradio's upload route writes each file to its temporary folder and knows one size limit
for all files: the largest any upload may have (a whole-slide image). This ASGI middleware
reads the same multipart stream alongside it, looks at the first bytes of each file (PNG,
JPEG, TIFF, DICOM, ZIP, …: `tools.imaging.uploads.upload_cap`), and counts its bytes. When
a file passes the limit for its kind, Gradio is handed the end of the stream and a part it
refuses (no field name), so its own error path deletes every temporary file of the request;
the person gets 413 with the limit in plain words. No file name is read or quoted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from python_multipart.multipart import MultipartParser, parse_options_header

from tools.imaging.uploads import upload_cap
from tools.settings import UploadSettings

__all__ = ["UploadLimitMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_HEAD = 132
"""Bytes of a file that tell its kind (DICOM's magic ends at byte 132)."""


def _mb(n: int) -> str:
    return f"{n / 1024**2:,.1f} MB"


class _Watch:
    """Follows the parts of one multipart body and notes the first file over its limit."""

    def __init__(self, boundary: bytes, limits: UploadSettings) -> None:
        self.limits = limits
        self.head = b""
        self.size = 0
        self.cap: tuple[int, str] | None = None
        self.refusal: str | None = None
        self.parser = MultipartParser(
            boundary,
            {"on_part_begin": self._begin, "on_part_data": self._data, "on_part_end": self._end},
        )

    def _begin(self) -> None:
        self.head, self.size, self.cap = b"", 0, None

    def _data(self, data: bytes, start: int, end: int) -> None:
        self.size += end - start
        if self.cap is None:
            self.head += data[start : min(end, start + _HEAD - len(self.head))]
            if len(self.head) < _HEAD:
                return
            self.cap = upload_cap(self.head, self.limits)
        self._check()

    def _end(self) -> None:
        if self.cap is None:  # a file shorter than 132 bytes
            self.cap = upload_cap(self.head, self.limits)
            self._check()

    def _check(self) -> None:
        assert self.cap is not None
        limit, kind = self.cap
        if self.size > limit and self.refusal is None:
            self.refusal = (
                f"Upload refused: {kind} may have at most {_mb(limit)}, and this one is "
                f"larger (only TIFF, DICOM and ZIP files may be whole-slide images of up to "
                f"{_mb(self.limits.max_slide_bytes)}). Nothing of it was kept."
            )

    def feed(self, body: bytes) -> None:
        if self.refusal is None and body:
            self.parser.write(body)


class UploadLimitMiddleware:
    """Pure ASGI middleware for Gradio's upload route (``…/gradio_api/upload``)."""

    def __init__(
        self, app: ASGIApp, limits: UploadSettings, path_suffix: str = "/gradio_api/upload"
    ) -> None:
        self.app = app
        self.limits = limits
        self.path_suffix = path_suffix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Watch the uploads' bodies; pass everything else on untouched."""
        if (
            scope["type"] != "http"
            or scope.get("method") != "POST"
            or not str(scope.get("path", "")).endswith(self.path_suffix)
        ):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v for k, v in scope["headers"]}
        kind, options = parse_options_header(headers.get("content-type", b""))
        boundary = options.get(b"boundary")
        if kind != b"multipart/form-data" or not boundary:
            await self.app(scope, receive, send)
            return
        watch = _Watch(boundary, self.limits)
        ended = False

        async def watched_receive() -> Message:
            nonlocal ended
            if ended:
                return {"type": "http.request", "body": b"", "more_body": False}
            message = await receive()
            if message["type"] != "http.request":
                return message
            watch.feed(message.get("body", b""))
            if watch.refusal is None:
                return message
            # Close the open part and start one without a field name: Gradio refuses it
            # and deletes the request's temporary files. This message's bytes never reach it.
            ended = True
            poison = b"\r\n--" + boundary + b"\r\nContent-Disposition: form-data\r\n\r\n"
            return {"type": "http.request", "body": poison, "more_body": False}

        async def watched_send(message: Message) -> None:
            if watch.refusal is None:
                await send(message)
                return
            if message["type"] == "http.response.start":
                body = watch.refusal.encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 413,
                        "headers": [
                            (b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close"),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
            # Gradio's own body for the refused part is dropped.

        await self.app(scope, watched_receive, watched_send)
