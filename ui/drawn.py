"""The region the slide viewer writes into a hidden field (JSON), read back as data."""

from __future__ import annotations

import json
import logging

from pydantic import ValidationError

from assistant.regions import DrawnRegion
from tools.geometry import Box
from tools.narrowing import Drawn

__all__ = ["drawn_region", "drawn_scope"]

log = logging.getLogger(__name__)


def drawn_region(raw: str | None) -> DrawnRegion | None:
    """The region the slide viewer sent (JSON in a hidden field), or None if absent or bad."""
    if not raw:
        return None
    try:
        data = json.loads(raw)
        return DrawnRegion(str(data["image_id"]), Box.model_validate(data["box"]))
    except (ValueError, KeyError, TypeError, ValidationError):
        log.warning("ignored a malformed drawn region from the slide viewer")
        return None


def drawn_scope(raw: str | None) -> list[Drawn]:
    """The same region as narrowing's `Drawn` (what forms and quick actions may use)."""
    region = drawn_region(raw)
    return [] if region is None else [Drawn(region.image_id, box=region.box)]
