"""An oversized upload is refused while it arrives, by what the file is, and leaves nothing."""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from assistant.config import load_config
from assistant.testing import ScriptedChatModel
from tests.vllm_servers import free_port

MB = 1024 * 1024
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 200
TIFF = b"II*\x00" + b"\0" * 200


def _body(head: bytes, size: int, chunk: int = 256 * 1024) -> Iterator[bytes]:
    yield head
    sent = len(head)
    while sent < size:
        piece = min(chunk, size - sent)
        yield b"\x11" * piece
        sent += piece


def _multipart(files: list[tuple[bytes, int]], boundary: str) -> Iterator[bytes]:
    for i, (head, size) in enumerate(files):
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
            f'filename="Doe_John_{i}.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        yield from _body(head, size)
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()


class _Peak:
    """The largest total size of files in a folder, polled every few milliseconds."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.peak, self._stop = folder, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            total = 0
            for path in list(self.folder.rglob("*")) if self.folder.exists() else []:
                with contextlib.suppress(OSError):  # a file deleted while listed
                    total += path.stat().st_size if path.is_file() else 0
            self.peak = max(self.peak, total)
            self._stop.wait(0.002)

    def __enter__(self) -> _Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_oversized_uploads_are_cut_off_by_kind(tmp_path: Path) -> None:
    from ui.app import UIServer, create_app, received_dir
    from ui.holder import AssistantHolder

    limits = {"max_bytes": 2 * MB, "max_slide_bytes": 6 * MB}
    config = load_config({"data_dir": str(tmp_path / "data"), "uploads": limits})
    holder = AssistantHolder(config, model=ScriptedChatModel([]))
    server = UIServer(create_app(config, holder), "127.0.0.1", free_port())
    server.start()
    received = received_dir(config)
    boundary = "medassist-test-boundary"
    headers = {"content-type": f"multipart/form-data; boundary={boundary}"}

    def post(files: list[tuple[bytes, int]]) -> httpx.Response:
        with httpx.Client(timeout=60) as client:
            try:
                return client.post(
                    f"{server.url}/gradio_api/upload",
                    content=_multipart(files, boundary),
                    headers=headers,
                )
            except (httpx.RemoteProtocolError, httpx.WriteError) as exc:
                pytest.fail(f"the refusal did not reach the client: {exc!r}")

    try:
        # A 40 MB "PNG": refused at its 2 MB limit, long before Gradio's 6 MB one.
        with _Peak(received) as peak:
            refused = post([(PNG, 40 * MB)])
        assert refused.status_code == 413, refused.text
        assert "PNG image may have at most 2.0 MB" in refused.text
        assert "Doe_John" not in refused.text
        assert peak.peak <= 3 * MB, f"{peak.peak / MB:.1f} MB were written before the refusal"
        assert [p for p in received.rglob("*") if p.is_file()] == []
        # A small PNG and then an oversized one in the same request: nothing is kept.
        refused = post([(PNG, MB // 2), (PNG, 10 * MB)])
        assert refused.status_code == 413
        assert [p for p in received.rglob("*") if p.is_file()] == []
        # A TIFF may be a whole-slide image: 4 MB passes here (the content check decides).
        accepted = post([(TIFF, 4 * MB)])
        assert accepted.status_code == 200, accepted.text
        assert len([p for p in received.rglob("*") if p.is_file()]) == 1
        # Over the slide limit, a TIFF is refused by Gradio's own cap, as before.
        assert post([(TIFF, 8 * MB)]).status_code == 413
        # The app still serves the next request.
        assert httpx.get(f"{server.url}/gradio_api/info", timeout=30).status_code == 200
    finally:
        server.close()
        gc.collect()
