"""A fault-injecting OpenAI-compatible chat server, run as its own process on loopback.

It answers ``POST /v1/chat/completions`` (streamed SSE, as vLLM does) and fails on
purpose the way a real model server can: dropping the connection mid-stream, stalling,
answering 5xx, sending a malformed stream or an error event, or stopping at the token
limit. The fault is chosen at start (``--mode``) or per request through
``POST /_fault`` (the next requests use it); ``GET /_fault/requests`` returns every
request body received, so tests can search what was sent. Standard library only: the
server shares no code with the client it tests.

Requests that carry a ``response_format`` (the agent's constrained tool choice) get a
well-formed ``{"tool": "answer"}`` action unless the fault's scope is ``all``.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, get_args

Mode = Literal["normal", "drop", "eof", "stall", "status", "malformed", "error_event", "length"]
MODES: tuple[str, ...] = get_args(Mode)
DEFAULT_TEXT = "Hello there, the answer goes on for a while longer."


class Faults:
    """The current fault (shared by the handler threads) and the request log."""

    def __init__(self, mode: str) -> None:
        self.lock = threading.Lock()
        self.settings: dict[str, Any] = {"mode": mode}
        self.requests: list[dict[str, Any]] = []

    def get(self, key: str, default: Any) -> Any:
        with self.lock:
            return self.settings.get(key, default)


class Handler(BaseHTTPRequestHandler):
    """One HTTP/1.1 connection; responses are chunked so a drop is a broken body."""

    protocol_version = "HTTP/1.1"
    faults: Faults

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads the request log instead."""

    def _json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _read_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    def do_GET(self) -> None:
        """Health (`/v1/models`) and the request log."""
        if self.path.rstrip("/").endswith("/models"):
            self._json(200, {"object": "list", "data": [{"id": "fault", "object": "model"}]})
        elif self.path == "/_fault/requests":
            with self.faults.lock:
                self._json(200, list(self.faults.requests))
        else:
            self._json(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:
        """Set the fault, or answer a chat completion under the current fault."""
        body = self._read_body()
        if self.path == "/_fault":
            if body.get("mode") not in MODES:
                self._json(400, {"error": {"message": f"mode must be one of {MODES}"}})
                return
            with self.faults.lock:
                self.faults.settings = dict(body)
            self._json(200, {"ok": True})
            return
        if not self.path.endswith("/chat/completions"):
            self._json(404, {"error": {"message": f"no route {self.path}"}})
            return
        with self.faults.lock:
            self.faults.requests.append(body)
            settings = dict(self.faults.settings)
        action = body.get("response_format") is not None
        mode = settings["mode"] if settings.get("scope") == "all" or not action else "normal"
        text = '{"tool": "answer"}' if action else str(settings.get("text", DEFAULT_TEXT))
        if mode == "status":
            status = int(settings.get("status", 500))
            self._json(status, {"error": {"message": f"injected failure {status}"}})
            return
        self._stream(body, mode, settings, text)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _event(self, payload: Any) -> None:
        self._chunk(f"data: {json.dumps(payload)}\n\n".encode())

    def _stream(self, body: dict[str, Any], mode: str, settings: dict[str, Any], text: str) -> None:
        words = text.split(" ")
        pieces = [w if i == 0 else " " + w for i, w in enumerate(words)]
        after = int(settings.get("after", 2))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        if mode == "eof":  # body ends at connection close: a clean EOF without [DONE]
            self.send_header("Connection", "close")
        else:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        write = self._raw if mode == "eof" else self._event
        base = {"id": "chatcmpl-fault", "object": "chat.completion.chunk", "created": 0}
        base["model"] = body.get("model", "fault")
        time.sleep(float(settings.get("first_s", 0.0)))  # time to the first token
        for i, piece in enumerate(pieces):
            if i == after and mode in ("drop", "eof", "stall", "malformed", "error_event"):
                self._fail(mode, settings)
                return
            if i == after and mode == "length":
                break
            delta = {"content": piece} if i else {"role": "assistant", "content": piece}
            write({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
            time.sleep(float(settings.get("delay_s", 0.01)))
        finish = "length" if mode == "length" else "stop"
        write({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        usage = {"prompt_tokens": 10, "completion_tokens": min(after, len(pieces))}
        write(
            {
                **base,
                "choices": [],
                "usage": {**usage, "total_tokens": 10 + usage["completion_tokens"]},
            }
        )
        if mode == "eof":
            self.wfile.write(b"data: [DONE]\n\n")
            self.close_connection = True
        else:
            self._chunk(b"data: [DONE]\n\n")
            self._chunk(b"")

    def _raw(self, payload: Any) -> None:
        self.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())
        self.wfile.flush()

    def _fail(self, mode: str, settings: dict[str, Any]) -> None:
        if mode == "stall":
            time.sleep(float(settings.get("stall_s", 30.0)))
        elif mode == "malformed":
            self._chunk(b'data: {"id": "chatcmpl-fault", "choices": [{"delta": {"content": "\n\n')
            self._chunk(b"")
            return
        elif mode == "error_event":
            self._event({"error": {"message": "injected engine failure", "code": 500}})
            self._chunk(b"")
            return
        self.close_connection = True
        if mode == "drop":  # mid-body, without the terminating chunk
            self.connection.shutdown(socket.SHUT_RDWR)


def main() -> None:
    """Serve until killed; print the port once listening."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--mode", choices=MODES, default="normal")
    args = parser.parse_args()
    Handler.faults = Faults(args.mode)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    sys.stdout.write(f"listening {server.server_address[1]}\n")
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
