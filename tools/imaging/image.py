"""The decoded image type shared by the loader, the renderer and the tools."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tools.errors import ToolArgumentError
from tools.imaging.windowing import VoiLut, Window

DEFAULT_MAX_PIXELS = 400_000_000
"""Refuse to decode a whole frame larger than this (slides go through the slide tools)."""


@dataclass(frozen=True)
class LoadedImage:
    """Decoded pixels (H×W or H×W×C) of one frame, with physical spacing when known."""

    pixels: NDArray[np.generic]
    source_format: str
    mode: str
    spacing_mm: tuple[float, float] | None = None
    modality: str | None = None
    body_part: str | None = None
    window: str | None = None
    notes: list[str] = field(default_factory=list)
    frame_index: int = 0
    frame_count: int = 1
    photometric: str | None = None
    units: str | None = None
    header_window: Window | None = None
    voi_lut: VoiLut | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    raw_header: Any = field(default=None, repr=False, compare=False)

    @property
    def height(self) -> int:
        """Rows."""
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        """Columns."""
        return int(self.pixels.shape[1])

    @property
    def channels(self) -> int:
        """1 for grayscale, 3 or 4 for colour."""
        return 1 if self.pixels.ndim == 2 else int(self.pixels.shape[2])

    @property
    def is_dicom(self) -> bool:
        """Whether the pixels came from a DICOM file."""
        return self.source_format == "DICOM"

    @property
    def inverted(self) -> bool:
        """MONOCHROME1: low values are displayed white."""
        return self.photometric == "MONOCHROME1"


def check_frame(frame: int, count: int, name: str) -> None:
    """Raise ToolArgumentError naming the valid range when `frame` (0-based) is out of range.

    The message counts from 1, as people and the tools' arguments do.
    """
    if not 0 <= frame < count:
        raise ToolArgumentError(
            f"frame {frame + 1} does not exist in {name}: it has {count} frame(s), "
            f"valid frames are 1..{count}"
        )
