"""What a reader returns, and the checks every reader shares."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from assistant.eval.items import EvalItem
from tools.errors import InputError


@dataclass
class ReadResult:
    """Items ready to run, plus what was left out and which files they came from."""

    items: list[EvalItem]
    missing_images: int = 0
    sources: list[Path] = field(default_factory=list)


def need(path: Path, what: str, layout: str) -> Path:
    """`path` if it exists, else an error naming it and the expected layout."""
    if not path.exists():
        raise InputError(f"{what} not found: {path}\nExpected layout:\n{layout}")
    return path


def keep_available(items: Iterable[EvalItem], sources: list[Path]) -> ReadResult:
    """Drop items with a missing image (counted), keep the rest in order."""
    out = ReadResult([], sources=sources)
    for item in items:
        if all(p.exists() for p in item.images):
            out.items.append(item)
        else:
            out.missing_images += 1
    return out
