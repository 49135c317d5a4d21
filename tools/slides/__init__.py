"""Whole-slide images: readers behind one interface, navigation tools, Deep Zoom tiles.

Public API for the rest of the application (the UI, the agent's message rendering)::

    open_slide(path) -> Slide        any supported file; UnreadableImageError otherwise
    SLIDES.get(path) -> Slide        the shared cache of open slides
    is_slide(path) -> bool           should this file be navigated rather than shown whole?
                                     (asked once, at upload, by tools.intake: then att.kind)
    thumbnail_png(path, max_side)    a bounded PNG of the whole slide (for chat messages)
    list_visits(session_dir, image_id)  the regions the agent looked at, in order
    TileServer                       DZI + JPEG tiles (ui/slide_viewer.py serves them)
"""

from __future__ import annotations

import io
from pathlib import Path

import openslide
import tifffile

from tools.imaging.wsi_archive import slide_in_archive
from tools.slides.base import Slide
from tools.slides.deepzoom import TileServer
from tools.slides.opener import SLIDES, SUPPORTED, SlideCache, open_slide
from tools.slides.visits import Visit, list_visits

__all__ = [
    "SLIDES",
    "SUPPORTED",
    "Slide",
    "SlideCache",
    "TileServer",
    "Visit",
    "is_slide",
    "list_visits",
    "open_slide",
    "thumbnail_png",
]

_LARGE_FLAT_PIXELS = 50_000_000


def is_slide(path: Path) -> bool:
    """Return True for whole-slide files: vendor formats, DICOM-WSI, tiled or pyramidal TIFFs.

    Also True for flat TIFFs over 50 Mpx. Ordinary PNG/JPEG and DICOM radiology are False.
    """
    if slide_in_archive(path) is not None:  # a ZIP of a DICOM-WSI's level files
        return True
    try:
        vendor = openslide.OpenSlide.detect_format(path)
    except openslide.OpenSlideError:
        vendor = None
    if vendor and vendor != "generic-tiff":
        return True
    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            pixels = int(page.imagewidth) * int(page.imagelength)
            pyramid = len(tif.series[0].levels) > 1
            return bool(page.is_tiled or pyramid or pixels > _LARGE_FLAT_PIXELS)
    except (tifffile.TiffFileError, ValueError, OSError, IndexError):
        return False


def thumbnail_png(path: Path, max_side: int) -> bytes:
    """Return PNG bytes of the whole slide, its longer side at most `max_side` pixels."""
    buf = io.BytesIO()
    SLIDES.get(path).thumbnail(max_side).save(buf, format="PNG")
    return buf.getvalue()
