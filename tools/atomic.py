"""Atomic file writes for a data folder that several app instances (and readers) share.

A file is written under a private temporary name in its own folder, then renamed over its
final name, so a reader (another instance, a tile route, a download) sees the old file or
the new one, never half of one, and two writers of the same name leave one whole file.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text"]


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside `path` to write to; renamed onto `path` when the block ends.

    The temporary name keeps the final name's suffixes (writers like PIL and nibabel go by
    them). On an exception the temporary file is removed and `path` is left untouched.
    """
    tmp = path.with_name(f".part-{secrets.token_hex(6)}-{path.name}")
    try:
        yield tmp
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write `data` to `path` atomically; return `path`."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    """Write UTF-8 `text` to `path` atomically; return `path`."""
    return atomic_write_bytes(path, text.encode("utf-8"))
