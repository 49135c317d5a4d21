"""Dispatch from a suite's `reader` to the reader of its format.

Every reader takes the `--data` folder and the suite, returns the items whose images are
there, and counts those whose images are missing (they are left out, and the summary says
how many). Nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from assistant.eval import readers_sets, readers_vqa
from assistant.eval.loaded import ReadResult
from assistant.eval.suite import ReaderName, SuiteSpec
from tools.errors import InputError

Reader = Callable[[Path, SuiteSpec], ReadResult]


def reader_for(name: ReaderName) -> Reader:
    """The reader function for a suite's `reader` field."""
    table: dict[str, Reader] = {
        "vqa_rad": readers_vqa.read_vqa_rad,
        "slake": readers_vqa.read_slake,
        "pathvqa": readers_vqa.read_pathvqa,
        "jsonl": readers_vqa.read_jsonl,
        "multipathqa": readers_sets.read_multipathqa,
        "iu_xray": readers_sets.read_iu_xray,
        "chestagentbench": readers_sets.read_chestagentbench,
    }
    return table[name]


def read_suite(data: Path, spec: SuiteSpec) -> ReadResult:
    """Read the suite's items from `data`; an error if none of them can run."""
    if not data.is_dir():
        raise InputError(f"--data {data} is not a folder.\nExpected layout:\n{spec.layout}")
    result = reader_for(spec.reader)(data, spec)
    if not result.items:
        raise InputError(
            f"no runnable items in {data} for suite {spec.name!r} "
            f"({result.missing_images} left out for missing images).\n"
            f"Expected layout:\n{spec.layout}"
        )
    return result
