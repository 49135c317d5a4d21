"""Cine loops of multi-frame images as animated PNG (APNG), for the UI to play.

All frames share one window (resolved on the middle frame), so brightness does not
flicker from frame to frame. Long series are subsampled evenly to `max_frames`.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from tools.imaging.loader import load_frames, load_image
from tools.imaging.render import display_array
from tools.imaging.windowing import Window, WindowPreset, preset_window


def cine_frames(count: int, max_frames: int) -> list[int]:
    """Return up to `max_frames` frame indices spread evenly over `count` frames."""
    if count <= max_frames:
        return list(range(count))
    return sorted({int(np.rint(i)) for i in np.linspace(0, count - 1, max_frames)})


def render_cine(
    path: Path,
    max_side: int = 512,
    *,
    window: WindowPreset | Window = "auto",
    fps: float = 10.0,
    max_frames: int = 48,
) -> bytes:
    """Return an animated PNG of the frames of `path`, looping at `fps` frames per second."""
    middle = load_image(path)
    count = middle.frame_count
    if count > 1:
        middle = load_image(path, frame=count // 2)
    shared = window
    if isinstance(window, str) and middle.channels == 1 and middle.voi_lut is None:
        shared = preset_window(window, middle.pixels, middle.header_window)
    pictures = []
    for image in load_frames(path, cine_frames(count, max_frames)):
        pixels, _ = display_array(image, shared)
        picture = Image.fromarray(pixels)
        picture.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
        pictures.append(picture)
    buf = io.BytesIO()
    duration = max(20, int(1000 / max(fps, 0.1)))
    pictures[0].save(
        buf, format="PNG", save_all=True, append_images=pictures[1:], duration=duration, loop=0
    )
    return buf.getvalue()
