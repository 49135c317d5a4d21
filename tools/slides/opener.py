"""Open any supported slide file behind the `Slide` interface, and keep recent ones open."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import openslide
import tifffile

from tools.errors import UnreadableImageError
from tools.imaging.wsi_archive import slide_in_archive
from tools.slides.array_backend import ArraySlide
from tools.slides.base import Slide
from tools.slides.openslide_backend import OpenSlideSlide
from tools.slides.tiff_backend import TiffSlide

SUPPORTED = (
    "whole-slide formats OpenSlide reads (Aperio .svs, Hamamatsu .ndpi/.vms, Leica .scn, "
    "MIRAX .mrxs, Philips TIFF, Ventana .bif, DICOM-WSI, tiled TIFF), OME-TIFF and other "
    "TIFFs, and ordinary PNG/JPEG images"
)
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def _is_tiff(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(4) in _TIFF_MAGIC


def _probe(slide: Slide) -> None:
    """Decode one pixel of the smallest level, so broken files fail at open time."""
    level = slide.level_count - 1
    slide.read_region((0, 0), level, (1, 1))


def _is_ome(path: Path) -> bool:
    try:
        with tifffile.TiffFile(path) as tif:
            return bool(tif.is_ome)
    except (tifffile.TiffFileError, ValueError, OSError):
        return False


def _open_openslide(path: Path) -> Slide:
    try:
        slide = OpenSlideSlide(path)
    except openslide.OpenSlideError as exc:
        raise UnreadableImageError(str(exc)) from exc
    try:
        _probe(slide)
    except UnreadableImageError as exc:
        slide.close()
        raise UnreadableImageError(str(exc.__cause__ or exc)) from exc
    return slide


def open_slide(path: Path) -> Slide:
    """Open `path` with the first reader that can decode it.

    OpenSlide comes first, except for OME-TIFF (OpenSlide would see only its first
    level); TIFFs OpenSlide refuses go to tifffile; other files to Pillow. Raises
    UnreadableImageError naming what each reader said.
    """
    if not path.is_file():
        raise UnreadableImageError(f"{path.name}: no such file")
    base = slide_in_archive(path)
    if base is not None:  # a ZIP of a DICOM-WSI: OpenSlide finds the levels beside level 0
        return _open_openslide(base)
    readers: list[tuple[str, Callable[[Path], Slide]]] = []
    if openslide.OpenSlide.detect_format(path):
        readers.append(("OpenSlide", _open_openslide))
    if _is_tiff(path):
        readers.insert(0 if _is_ome(path) else len(readers), ("tifffile", TiffSlide))
    if _is_tiff(path) or not readers:
        readers.append(("Pillow", ArraySlide.from_file))
    problems: list[str] = []
    for name, reader in readers:
        try:
            return reader(path)
        except UnreadableImageError as exc:
            problems.append(f"{name}: {exc}")
    raise UnreadableImageError(
        f"{path.name}: cannot be opened as a slide ({'; '.join(problems)}). Supported: {SUPPORTED}."
    )


class SlideCache:
    """Keeps the most recently used slides open (opening a slide parses its whole index)."""

    def __init__(self, capacity: int = 8) -> None:
        self.capacity = capacity
        self._slides: OrderedDict[tuple[str, int, int], Slide] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: Path) -> Slide:
        """Return the open slide at `path`, reopened when the file changed or its handle broke."""
        try:  # one stat per call: the tile server calls this for every tile
            stat = path.stat()
        except FileNotFoundError:
            raise UnreadableImageError(f"{path.name}: no such file") from None
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        with self._lock:
            slide = self._slides.get(key)
            if slide is not None and not slide.broken:
                self._slides.move_to_end(key)
                return slide
            if slide is not None:  # an OpenSlide handle in its error state: start afresh
                del self._slides[key]
        slide = open_slide(path)
        with self._lock:
            self._slides[key] = slide
            self._slides.move_to_end(key)
            while len(self._slides) > self.capacity:
                # Not closed here: another thread may still be reading it. Handles close
                # when the last reference goes (OpenSlide and TiffSlide both do).
                self._slides.popitem(last=False)
        return slide

    def clear(self) -> None:
        """Close every cached slide."""
        with self._lock:
            for slide in self._slides.values():
                slide.close()
            self._slides.clear()


SLIDES = SlideCache()
"""The process-wide cache the tools and the tile server share."""
