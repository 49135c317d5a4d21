"""Time limits for decoding: a malformed file must give a clear error, never a hang.

Decoders are C extensions that cannot be interrupted from Python, so the work runs in
a daemon thread and the caller stops waiting after the limit. A runaway decoder keeps
its thread until it finishes, but the user gets an answer and the process can exit.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from tools.errors import UnreadableImageError

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


_WARNINGS_LOCK = threading.RLock()


@contextmanager
def captured_warnings(wait_s: float = 1.0) -> Iterator[list[warnings.WarningMessage]]:
    """Record the warnings raised inside the block instead of showing them.

    `warnings.catch_warnings` swaps process-wide state (before Python 3.14), so blocks are
    serialised by a lock. The lock is only waited for `wait_s`: if a runaway decoder holds
    it, the block runs without recording rather than stalling every later read.
    """
    if not _WARNINGS_LOCK.acquire(timeout=wait_s):
        yield []
        return
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield caught
    finally:
        _WARNINGS_LOCK.release()
