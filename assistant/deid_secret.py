"""The deployment's de-identification secret: configured, or generated once and kept private.

Pseudonyms, UID remaps and date shifts are keyed by ``secret:session_id``. The session id
is not secret (it is in exports, viewer URLs and the CLI banner), so without a secret
anyone holding an export could recompute the date shift and test guesses against the
pseudonyms. Unless `privacy.deid_secret` is set, a random secret is generated on first
run and stored as `<data_dir>/deid-secret`, readable by its owner only (mode 0600); a
file that others can read is refused, since the secret would then be no secret.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from tools.errors import ConfigError
from tools.settings import MIN_SECRET_CHARS, PrivacySettings

SECRET_FILE = "deid-secret"


def secret_path(data_dir: Path) -> Path:
    """Where the generated secret lives."""
    return data_dir / SECRET_FILE


def deid_secret(privacy: PrivacySettings, data_dir: Path) -> str:
    """The configured secret, else the one stored under `data_dir` (generated if absent)."""
    if privacy.deid_secret is not None:
        return privacy.deid_secret
    path = secret_path(data_dir)
    if not path.exists():
        _create(path)
    return _read(path)


def _create(path: Path) -> None:
    """Write a new secret atomically (a private temporary file, then a link).

    The link fails if another process got there first; both then use the one that won.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32) + "\n")
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _read(path: Path) -> str:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(
            f"the de-identification secret {path} is readable by others (mode {mode:o}); "
            f"run `chmod 600 {path}` (it must stay private to the service's user)"
        )
    value = path.read_text().strip()
    if len(value) < MIN_SECRET_CHARS:
        raise ConfigError(
            f"the de-identification secret {path} holds {len(value)} characters, under "
            f"{MIN_SECRET_CHARS}; delete the file to have a new one generated (pseudonyms "
            "and date shifts of existing sessions then change)"
        )
    return value
