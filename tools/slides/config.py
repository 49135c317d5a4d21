"""Typed settings of the slide navigation tools (the ``slides`` section of app.yaml)."""

from __future__ import annotations

from pydantic import Field

from tools.settings import Strict


class SlideSettings(Strict):
    """Tunables of slide_overview and slide_zoom."""

    thumbnail_max_side: int = Field(1024, ge=128, le=4096)
    crop_max_side: int = Field(1024, ge=128, le=4096)
    max_tissue_regions: int = Field(8, ge=0, le=50)
    max_suggestions: int = Field(5, ge=0, le=50)
    suggestion_power: float = Field(10.0, gt=0, description="Magnification a Z box shows at.")
    min_zoom_side: int = Field(16, ge=1)
    jpeg_quality: int = Field(90, ge=50, le=100)
