"""Segmentation: weight-free classical backends and SAM, behind one `Segmenter` protocol.

Public API::

    segment(args, ctx) -> SegmentResult      the registered tool (tools/catalog.py)
    Segmenter, Target, Prompts, SegInput     the backend interface and its domain types
    Segmentation                             a backend's label image, names and caveats
    get_segmenter(target, backend, config)   the backend serving a target
    measure(seg, spacing_mm, mpp)            per-structure area (mm², µm² or px), bbox, centroid
    rle_encode / rle_decode                  COCO-style uncompressed RLE of a binary mask

Modules: `types` (domain types), `nuclei`, `anatomy` (lungs, vessels, tissue),
`interactive` (point/box prompts), `sam` (transformers SamModel), `backends`, `measure`,
`outputs` (mask PNG, RLE, overlay), `config` (configs/segmentation.yaml), `tool`.
"""

from __future__ import annotations

from tools.segmentation.backends import get_segmenter
from tools.segmentation.measure import measure
from tools.segmentation.outputs import rle_decode, rle_encode
from tools.segmentation.schema import SegmentArgs
from tools.segmentation.tool import SegmentResult, segment
from tools.segmentation.types import Prompts, SegInput, Segmentation, Segmenter, Target

__all__ = [
    "Prompts",
    "SegInput",
    "SegmentArgs",
    "SegmentResult",
    "Segmentation",
    "Segmenter",
    "Target",
    "get_segmenter",
    "measure",
    "rle_decode",
    "rle_encode",
    "segment",
]
