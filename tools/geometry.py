"""The one box convention of every tool, the viewers and the prompts: x, y, width, height.

Pixels of the image the tool reads (level-0 pixels on a whole-slide image), origin at
the top-left corner, `x`/`y` the top-left pixel of the box. Internals that prefer corners
convert with `corners` / `Box.from_corners` at their boundary.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Box"]


class Box(BaseModel):
    """A rectangle: top-left pixel (x, y) and size in pixels."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    x: int = Field(ge=0, description="Left edge, pixels.")
    y: int = Field(ge=0, description="Top edge, pixels.")
    width: int = Field(ge=1, description="Width, pixels.")
    height: int = Field(ge=1, description="Height, pixels.")

    @property
    def right(self) -> int:
        """One past the last column."""
        return self.x + self.width

    @property
    def bottom(self) -> int:
        """One past the last row."""
        return self.y + self.height

    @property
    def corners(self) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1), x1 and y1 one past the box."""
        return self.x, self.y, self.right, self.bottom

    @classmethod
    def from_corners(cls, x0: int, y0: int, x1: int, y1: int) -> Box:
        """The box spanning [x0, x1) × [y0, y1)."""
        return cls(x=x0, y=y0, width=max(x1 - x0, 1), height=max(y1 - y0, 1))

    def clipped(self, width: int, height: int) -> Box | None:
        """The part inside a `width`×`height` image, or None when they do not overlap."""
        x0, y0 = max(self.x, 0), max(self.y, 0)
        x1, y1 = min(self.right, width), min(self.bottom, height)
        if x1 <= x0 or y1 <= y0:
            return None
        return Box(x=x0, y=y0, width=x1 - x0, height=y1 - y0)

    def describe(self) -> str:
        """How messages name the box: 'x=…, y=…, width=…, height=…'."""
        return f"x={self.x}, y={self.y}, width={self.width}, height={self.height}"
