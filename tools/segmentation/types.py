"""Domain types of segmentation: targets, prompts, results and the `Segmenter` protocol."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

Labels = NDArray[np.int32]
"""A label image: 0 is background, 1..N are structures (instances or classes)."""


class Target(StrEnum):
    """What to segment; each value has a weight-free default backend."""

    NUCLEI_HE = "nuclei_he"
    NUCLEI_FLUORESCENCE = "nuclei_fluorescence"
    TISSUE = "tissue"
    LUNG_FIELDS = "lung_fields"
    RETINAL_VESSELS = "retinal_vessels"
    PROMPTED = "prompted"
    CT_ORGANS = "ct_organs"


INSTANCE_TARGETS = frozenset({Target.NUCLEI_HE, Target.NUCLEI_FLUORESCENCE})
"""Targets whose labels are separate objects to count (not named classes)."""


@dataclass(frozen=True)
class Prompts:
    """Interactive prompts in pixel coordinates: x is the column, y the row.

    `box` is (x0, y0, x1, y1) with x1, y1 exclusive.
    """

    points: tuple[tuple[int, int], ...] = ()
    background_points: tuple[tuple[int, int], ...] = ()
    box: tuple[int, int, int, int] | None = None

    @property
    def empty(self) -> bool:
        """True when no prompt was given."""
        return not self.points and not self.background_points and self.box is None


@dataclass(frozen=True)
class SegInput:
    """An image to segment with what is known of its physical scale."""

    pixels: NDArray[np.generic]
    spacing_mm: tuple[float, float] | None = None
    mpp: float | None = None
    modality: str | None = None


@dataclass
class Segmentation:
    """A backend's answer: a label image plus names and caveats.

    `names` maps class labels to names (e.g. {1: "right lung"}); for instance targets it
    holds one entry {0: "nucleus"} naming every object.
    """

    labels: Labels
    names: dict[int, str]
    method: str
    instances: bool = False
    notes: list[str] = field(default_factory=list)
    plural: str = ""
    """Plural of the instance name for counts ("nuclei"); defaults to name + "s"."""

    def name_of(self, label: int) -> str:
        """Display name of one label."""
        if self.instances:
            return f"{self.names.get(0, 'object')} {label}"
        return self.names.get(label, f"structure {label}")


class Segmenter(Protocol):
    """A segmentation backend: weight-free classical code or a model."""

    name: str
    targets: frozenset[Target]

    def segment(self, image: SegInput, target: Target, prompts: Prompts) -> Segmentation:
        """Segment `target` in `image`, using `prompts` when the backend takes them."""
        ...
