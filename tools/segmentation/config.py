"""Typed segmentation configuration, read from ``configs/segmentation.yaml``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from tools.settings import Strict


class SamSettings(Strict):
    """Where a SAM-architecture checkpoint lives (None: the sam backend is off)."""

    path: Path | None = None
    device: str = "cpu"
    normalize: Literal["imagenet", "minmax"] = "imagenet"


class TotalSegSettings(Strict):
    """TotalSegmentator for CT series: its home folder with the weights (None: off).

    ``home`` is TOTALSEG_HOME_DIR; the weights are read from ``home/nnunet/results``.
    They are never downloaded: copy them there from a machine that has them.
    """

    home: Path | None = None
    fast: bool = True
    """3 mm model (one network, task 297); False: 1.5 mm, five networks (tasks 291-295)."""
    device: Literal["cpu", "gpu", "mps"] = "cpu"


class SegmentationConfig(Strict):
    """Limits and model backends of the segment tool."""

    max_pixels: int = Field(default=25_000_000, ge=1)
    max_listed: int = Field(default=10, ge=1, le=500)
    sam: SamSettings = SamSettings()
    totalsegmentator: TotalSegSettings = TotalSegSettings()
