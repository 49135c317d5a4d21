"""Who is asking, on every route: accounts or a proxy header, and whose files they may reach.

Without `auth` settings the UI serves loopback only and has one user, "". With them, an
ASGI middleware in front of the whole app (Gradio's page and API, uploaded and produced
files, slide and image tiles) identifies the user on each request, refuses anyone else, and
refuses a path that names another user's session (`/slides/<session>/…`,
`/viewer/<session>/…`, Gradio's `/gradio_api/file=<data>/sessions/<session>/…`) with 404,
as if it did not exist. Gradio
handlers read the same user from `gr.Request.username` (see `user_of`).

Accounts use HTTP Basic authentication, checked against hashed passwords; a check is
remembered for a few minutes per credential so that tiles stay fast. Over a network put
TLS in front (a reverse proxy), or use that proxy's own login with `auth.proxy_header`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import gradio as gr

from assistant.accounts import Accounts
from assistant.audit import AuditSink
from assistant.config import AuthSettings
from assistant.service import Assistant
from tools.errors import MedAssistError

__all__ = ["Access", "AccessMiddleware", "user_of"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_SESSION_ROUTES = ("/slides/", "/viewer/")
"""Routes whose first path segment is a session id (slide tiles; the image viewer)."""

_DOWNLOADS = ("/reports/", "/exports/")
"""Session folders whose files are exports: fetching one is audited as a download."""

_REMEMBER_S = 300.0
"""How long a checked credential is trusted without hashing the password again."""


class Access:
    """Identifies the user of a request and answers whether they may reach a session."""

    def __init__(
        self, auth: AuthSettings, sessions_root: Path, assistant: Callable[[], Assistant]
    ) -> None:
        self.auth = auth
        self.sessions_root = sessions_root.resolve()
        self._assistant = assistant
        self.accounts = Accounts(auth.accounts_file) if auth.accounts_file else None
        self._checked: dict[str, tuple[str, float]] = {}
        self._owners: dict[str, str] = {}

    @property
    def audit(self) -> AuditSink:
        """The Assistant's audit log (one writer for the whole app)."""
        return self._assistant().audit

    @property
    def enabled(self) -> bool:
        """Whether users are told apart (otherwise everyone is "")."""
        return self.auth.enabled

    def user(self, headers: MutableMapping[str, str]) -> str | None:
        """The request's user: "" without auth settings, None when not authenticated."""
        if self.auth.proxy_header:
            return headers.get(self.auth.proxy_header.lower()) or None
        if self.accounts is None:
            return ""
        return self._basic(headers.get("authorization", ""))

    def _basic(self, header: str) -> str | None:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic" or not encoded:
            return None
        key = hashlib.sha256(header.encode()).hexdigest()
        remembered = self._checked.get(key)
        if remembered and time.monotonic() - remembered[1] < _REMEMBER_S:
            return remembered[0]
        try:
            name, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        assert self.accounts is not None
        if not self.accounts.check(name, password):
            self._checked.pop(key, None)
            return None
        if len(self._checked) > 1024:
            self._checked.clear()
        self._checked[key] = (name, time.monotonic())
        return name

    def session_in_path(self, path: str) -> str | None:
        """The session a request path names (slide routes, Gradio's file route), if any."""
        for prefix in _SESSION_ROUTES:
            if path.startswith(prefix):
                first = path[len(prefix) :].split("/", 1)[0]
                return None if first == "static" else first
        marker = "/file="
        if marker in path:
            target = Path(path.split(marker, 1)[1])
            try:
                inner = target.resolve().relative_to(self.sessions_root)
            except (ValueError, OSError):
                return None
            return inner.parts[0] if inner.parts else None
        return None

    def may_reach(self, user: str, session_id: str) -> bool:
        """Whether `user` owns the session (an unknown session is nobody's).

        Owners never change and ids are never reused, so each is looked up once: tiles
        and files are requested many times a second.
        """
        owner = self._owners.get(session_id)
        if owner is None:
            try:
                owner = self._assistant().get_session(session_id).owner
            except MedAssistError:
                return False
            self._owners[session_id] = owner
        return owner == user


def user_of(request: gr.Request | None) -> str:
    """The user of a Gradio event ("" when the UI has no accounts)."""
    name = getattr(request, "username", None) if request is not None else None
    return str(name) if name else ""


class AccessMiddleware:
    """Pure ASGI middleware: authenticate every request; keep users out of others' sessions."""

    def __init__(self, app: ASGIApp, access: Access) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Identify the user, then pass the request on or refuse it."""
        if scope["type"] not in ("http", "websocket") or not self.access.enabled:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        user = self.access.user(headers)
        if user is None:
            await self._refuse(scope, send, 401, "Sign in to use MedAssist.")
            return
        path = str(scope.get("path", ""))
        session = self.access.session_in_path(path)
        if session is not None:
            if not self.access.may_reach(user, session):
                self.access.audit.record(user, "refused", session, "a file or tile of it")
                await self._refuse(scope, send, 404, "Not found.")
                return
            if any(part in path for part in _DOWNLOADS):
                self.access.audit.record(user, "download", session, Path(path).name)
            elif path.endswith("/viewer"):
                self.access.audit.record(user, "view_slide", session, path.rsplit("/", 2)[-2])
            elif path.startswith("/viewer/") and path.endswith("/page"):
                self.access.audit.record(user, "view_image", session, path.rsplit("/", 2)[-2])
        scope.setdefault("state", {})["medassist_user"] = user
        await self.app(scope, receive, send)

    async def _refuse(self, scope: Scope, send: Send, status: int, text: str) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        headers = [(b"content-type", b"text/plain; charset=utf-8")]
        if status == 401 and self.access.accounts is not None:
            headers.append((b"www-authenticate", b'Basic realm="MedAssist", charset="UTF-8"'))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": text.encode()})
