"""scikit-image modules typed as `Any`.

scikit-image ships partial annotations, so ``mypy --strict`` rejects calls to its many
unannotated functions; importing the modules through here keeps the rest strictly typed.
"""

from __future__ import annotations

from typing import Any

import skimage.color
import skimage.draw
import skimage.exposure
import skimage.feature
import skimage.filters
import skimage.measure
import skimage.morphology
import skimage.segmentation

color: Any = skimage.color
draw: Any = skimage.draw
exposure: Any = skimage.exposure
feature: Any = skimage.feature
filters: Any = skimage.filters
measure: Any = skimage.measure
morphology: Any = skimage.morphology
segmentation: Any = skimage.segmentation
