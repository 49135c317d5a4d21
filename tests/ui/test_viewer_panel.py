"""The image viewer opens a DICOM series at its middle slice, anything else at frame 1."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from assistant.sessions import SessionStore
from tests.tools.imaging.test_series_archive import LIMITS, ZS, _series_zip
from tools.intake import inspect_upload
from ui.viewer_panel import opening_frame


def test_series_opens_at_the_middle_slice(tmp_path: Path, gradient_png: Path) -> None:
    store = SessionStore(tmp_path / "data", partial(inspect_upload, limits=LIMITS))
    session = store.create().id
    series = store.add_upload(session, _series_zip(tmp_path))
    png = store.add_upload(session, gradient_png)
    start, frames = opening_frame(series)
    assert frames == len(ZS) and start == len(ZS) // 2 + 1  # 1-based: slice 2 of 0..4 → 3
    assert opening_frame(png) == (1, 1)
