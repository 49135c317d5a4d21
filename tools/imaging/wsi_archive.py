"""ZIP uploads holding a DICOM whole-slide image: every level file of one pyramid.

A DICOM-WSI is one file per pyramid level (plus label and overview images); zipped, it is
one upload and one attachment. The archive is unpacked once beside the stored upload (see
`archive`), where OpenSlide, given the level-0 file, finds the other levels by itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from tools.errors import UnreadableImageError, UploadRejectedError
from tools.imaging.archive import ZIP_MAGIC, unpack_once
from tools.imaging.dicom import read_dicom

WSI_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.77.1.6"  # VL Whole Slide Microscopy Image Storage
WSI_ARCHIVE_MEDIA_TYPE = "application/vnd.medassist.dicom-wsi+zip"
_NOT_PYRAMID = {"LABEL", "OVERVIEW", "THUMBNAIL"}


def wsi_base_file(files: Iterable[Path]) -> Path | None:
    """The level-0 file of a DICOM-WSI among `files` (the largest pyramid level), or None.

    The first DICOM image that is not whole-slide ends the search: the files are a series,
    and only one header of it is read.
    """
    best, best_pixels = None, 0
    for path in files:
        try:
            ds, _ = read_dicom(path, stop_before_pixels=True)
        except UnreadableImageError:
            continue
        if str(ds.get("SOPClassUID", "")) != WSI_SOP_CLASS:
            if "Rows" in ds:
                return None
            continue
        if {str(v).upper() for v in ds.get("ImageType", [])} & _NOT_PYRAMID:
            continue
        pixels = int(ds.get("TotalPixelMatrixColumns") or 0) * int(
            ds.get("TotalPixelMatrixRows") or 0
        )
        if pixels > best_pixels:
            best, best_pixels = path, pixels
    return best


def slide_in_archive(path: Path) -> Path | None:
    """For a stored ZIP upload holding a DICOM-WSI, its unpacked level-0 file; else None."""
    try:
        with path.open("rb") as fh:
            if fh.read(4) != ZIP_MAGIC:
                return None
        stat = path.stat()
    except OSError:
        return None
    try:
        return _base_file(str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    except UploadRejectedError:  # a broken archive: whoever reads it says so
        return None


@lru_cache(maxsize=64)
def _base_file(path: str, size: int, mtime_ns: int) -> Path | None:
    del size, mtime_ns  # part of the cache key only
    return wsi_base_file(unpack_once(Path(path), "the archive").files)


__all__ = ["WSI_ARCHIVE_MEDIA_TYPE", "WSI_SOP_CLASS", "slide_in_archive", "wsi_base_file"]
