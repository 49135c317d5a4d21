"""Accounts for the web UI, and the rule that it serves beyond loopback only with them.

The file (`auth.accounts_file`) is JSON, ``{"users": {"alice": "pbkdf2_sha256$…"}}``, written
with mode 0600 by `medassist users add NAME`; passwords themselves are never stored. Checks
compare in constant time. Standard library only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import os
import re
import secrets
from pathlib import Path

from assistant.config import AuthSettings
from tools.errors import ConfigError, InputError

__all__ = ["Accounts", "check_exposure", "hash_password", "is_loopback", "verify_password"]

ITERATIONS = 240_000
"""PBKDF2 rounds for new hashes (stored in each hash, so old ones keep working)."""

MIN_PASSWORD = 10
_NAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def hash_password(password: str, *, iterations: int = ITERATIONS) -> str:
    """A salted hash of `password`: ``pbkdf2_sha256$<rounds>$<salt>$<hash>`` (base64)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"pbkdf2_sha256${iterations}${_b64(salt)}${_b64(digest)}"


def verify_password(stored: str, password: str) -> bool:
    """Whether `password` matches the stored hash (False for a malformed hash)."""
    try:
        scheme, rounds, salt, digest = stored.split("$")
        if scheme != "pbkdf2_sha256":
            return False
        got = hashlib.pbkdf2_hmac(
            "sha256", password.encode(), base64.b64decode(salt), int(rounds)
        )
        return hmac.compare_digest(got, base64.b64decode(digest))
    except (ValueError, TypeError):
        return False


class Accounts:
    """The accounts file: read on each check, so added users can log in without a restart."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read the accounts file {self.path}: {exc}") from exc
        users = data.get("users") if isinstance(data, dict) else None
        if not isinstance(users, dict):
            raise ConfigError(f"the accounts file {self.path} has no 'users' object")
        return {str(k): str(v) for k, v in users.items()}

    def _write(self, users: dict[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({"users": users}, out, indent=2, sort_keys=True)
        tmp.chmod(0o600)
        tmp.replace(self.path)

    def names(self) -> list[str]:
        """The user names, sorted."""
        return sorted(self._read())

    def add(self, name: str, password: str) -> None:
        """Add a user, or set a new password for an existing one."""
        if not _NAME.fullmatch(name):
            raise InputError(
                "a user name is 1-64 letters, digits or . _ @ - (no spaces), e.g. 'dr.lee'"
            )
        if len(password) < MIN_PASSWORD:
            raise InputError(f"the password must have at least {MIN_PASSWORD} characters")
        users = self._read()
        users[name] = hash_password(password)
        self._write(users)

    def remove(self, name: str) -> None:
        """Remove a user (their sessions stay on disk, reachable by nobody else)."""
        users = self._read()
        if name not in users:
            raise InputError(f"no user {name!r}; users: {', '.join(sorted(users)) or 'none'}")
        del users[name]
        self._write(users)

    def check(self, name: str, password: str) -> bool:
        """Whether `name` exists and `password` is theirs."""
        stored = self._read().get(name)
        return stored is not None and verify_password(stored, password)


def is_loopback(host: str) -> bool:
    """Whether `host` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name or 0.0.0.0-like wildcard: assume it is reachable


def check_exposure(auth: AuthSettings, host: str) -> None:
    """Refuse to serve beyond loopback without a way to tell users apart."""
    if is_loopback(host) or auth.enabled:
        return
    raise ConfigError(
        f"refusing to serve the UI on {host}: every browser that reaches it would see every "
        "session. Bind 127.0.0.1, or identify users: set auth.accounts_file and add users "
        "with `medassist users add NAME`, or set auth.proxy_header behind an authenticating "
        "reverse proxy (README, 'Several users')."
    )
