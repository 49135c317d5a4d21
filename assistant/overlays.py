"""Segmentation layers of an image, read from the session's `segment` results, for viewers.

Each successful `segment` on an image left a label mask PNG (its path in the tool's JSON).
A 2D image's mask covers the whole image; a slide's covers the region that was analysed
(`region`, level-0 pixels). A CT series' organ labels are a volume and are not layered here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.messages import BaseMessage, ToolMessage

from tools.attachments import Attachment
from tools.geometry import Box
from tools.segmentation.outputs import palette

SEGMENT_TOOL = "segment"


@dataclass(frozen=True)
class Layer:
    """One segmentation result drawn over an image."""

    number: int
    target: str
    mask: Path
    extent: Box
    instances: bool
    legend: list[tuple[str, tuple[int, int, int]]]


def _rgb(colour: Sequence[int]) -> tuple[int, int, int]:
    r, g, b = (int(c) for c in colour[:3])
    return r, g, b


def _legend(result: dict[str, Any], instances: bool) -> list[tuple[str, tuple[int, int, int]]]:
    structures = [s for s in result.get("structures", []) if isinstance(s, dict)]
    if not structures:
        return [("nothing found", (128, 128, 128))]
    top = max(int(s.get("label", 1)) for s in structures)
    colours = palette(top, instances)
    if instances:
        count = int(result.get("count", len(structures)))
        total = result.get("total_area") or {}
        text = f"{count} found, total {total.get('value', '?')} {total.get('unit', '')}".strip()
        return [(text, _rgb(colours[0]))]
    out = []
    for s in structures:
        area = s.get("area") or {}
        out.append(
            (
                f"{s.get('name', 'structure')}: {area.get('value', '?')} {area.get('unit', '')}",
                _rgb(colours[int(s.get("label", 1)) - 1]),
            )
        )
    return out


def segment_layers(
    messages: Sequence[BaseMessage], att: Attachment, session_dir: Path
) -> list[Layer]:
    """The image's segmentation layers, oldest first (numbered 1, 2, … in that order)."""
    layers: list[Layer] = []
    for message in messages:
        if not isinstance(message, ToolMessage) or message.name != SEGMENT_TOOL:
            continue
        if message.status == "error" or not isinstance(message.content, str):
            continue
        try:
            result = json.loads(message.content)
        except json.JSONDecodeError:
            continue
        if not isinstance(result, dict) or result.get("image_id") != att.id:
            continue
        mask_rel = result.get("mask_png")
        if not isinstance(mask_rel, str):
            continue  # a CT series' label volume
        mask = (session_dir / mask_rel).resolve()
        if not mask.is_relative_to(session_dir.resolve()) or not mask.is_file():
            continue
        if att.kind.is_slide:
            extent = Box.model_validate(result["region"])
        else:
            extent = Box(x=0, y=0, width=att.facts.width or 1, height=att.facts.height or 1)
        instances = result.get("mean_area") is not None
        layers.append(
            Layer(
                number=len(layers) + 1,
                target=str(result.get("target", "segmentation")),
                mask=mask,
                extent=extent,
                instances=instances,
                legend=_legend(result, instances),
            )
        )
    return layers
