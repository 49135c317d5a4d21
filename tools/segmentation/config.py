"""Typed segmentation configuration, read from ``configs/segmentation.yaml``."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from assistant.config import config_dir, read_settings

FILE_NAME = "segmentation.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SamSettings(_Strict):
    """Where a SAM-architecture checkpoint lives (None: the sam backend is off)."""

    path: Path | None = None
    device: str = "cpu"
    normalize: Literal["imagenet", "minmax"] = "imagenet"


class TotalSegSettings(_Strict):
    """TotalSegmentator for CT series: its home folder with the weights (None: off).

    ``home`` is TOTALSEG_HOME_DIR; the weights are read from ``home/nnunet/results``.
    They are never downloaded: copy them there from a machine that has them.
    """

    home: Path | None = None
    fast: bool = True
    """3 mm model (one network, task 297); False: 1.5 mm, five networks (tasks 291-295)."""
    device: Literal["cpu", "gpu", "mps"] = "cpu"


class SegmentationConfig(_Strict):
    """Limits and model backends of the segment tool."""

    max_pixels: int = Field(default=25_000_000, ge=1)
    max_listed: int = Field(default=10, ge=1, le=500)
    sam: SamSettings = SamSettings()
    totalsegmentator: TotalSegSettings = TotalSegSettings()


def read_config(path: Path) -> SegmentationConfig:
    """Validate one YAML file; a missing file means defaults."""
    if not path.is_file():
        return SegmentationConfig()
    return read_settings(path, SegmentationConfig, "segmentation configuration")


@cache
def _cached(path: Path) -> SegmentationConfig:
    return read_config(path)


def load_segmentation_config() -> SegmentationConfig:
    """Return the configuration in the active config folder (cached per path)."""
    return _cached(config_dir() / FILE_NAME)
