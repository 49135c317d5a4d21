"""The image viewer opens a DICOM series at its middle slice, anything else at frame 1."""

from __future__ import annotations

from pathlib import Path

from tests.tools.imaging.test_series_archive import ZS, _series_zip
from ui.viewer_panel import opening_frame


def test_series_opens_at_the_middle_slice(tmp_path: Path, gradient_png: Path) -> None:
    archive = _series_zip(tmp_path)
    start, frames = opening_frame(archive, "session-key")
    assert frames == len(ZS) and start == len(ZS) // 2 + 1  # 1-based: slice 2 of 0..4 → 3
    assert opening_frame(gradient_png, "session-key") == (1, 1)
