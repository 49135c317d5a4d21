"""Time limits for decoding: a malformed file must give a clear error, never a hang.

Decoders are C extensions that cannot be interrupted from Python, so the work runs in
a daemon thread and the caller stops waiting after the limit. A runaway decoder keeps
its thread until it finishes, but the user gets an answer and the process can exit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from assistant.errors import UnreadableImageError

T = TypeVar("T")

DEFAULT_DECODE_TIMEOUT_S = 30.0
"""Generous for a 2,000-frame series on two cores; far below a user's patience for a hang."""


def call_with_timeout(func: Callable[[], T], timeout_s: float, what: str) -> T:
    """Return ``func()``; raise UnreadableImageError if it runs longer than `timeout_s`.

    Exceptions raised by `func` are re-raised in the caller's thread unchanged.
    """
    values: list[T] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            values.append(func())
        except BaseException as exc:  # noqa: BLE001  (re-raised in the caller's thread)
            errors.append(exc)

    thread = threading.Thread(target=work, name=f"decode:{what}", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise UnreadableImageError(
            f"{what}: decoding took longer than {timeout_s:g} s and was abandoned; "
            "the file is probably malformed or far larger than it claims."
        )
    if errors:
        raise errors[0]
    return values[0]
