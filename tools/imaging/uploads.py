"""Upload checks: size, type, pixel count (decompression bombs) and frame count.

`check_upload` reads headers only, never pixels, so a 50 kB PNG that claims to be
100,000 × 100,000 pixels is refused before anything decodes it (`tools.intake` then
decodes what will be shown). Messages are for the person who uploaded: they name the
file and the broken limit in plain words; what a library said goes to the log only.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import re
import tempfile
import zlib
from pathlib import Path

import tifffile
from PIL import Image, UnidentifiedImageError

from tools.errors import UnreadableImageError, UploadRejectedError
from tools.imaging.archive import SERIES_MEDIA_TYPE, is_zip, unpack_archive
from tools.imaging.dicom import GZIP_MAGIC, frame_count, read_dicom
from tools.imaging.raster import raster_format
from tools.imaging.series import group_series
from tools.imaging.volume_file import check_volume
from tools.imaging.volume_header import volume_format
from tools.imaging.wsi_archive import WSI_ARCHIVE_MEDIA_TYPE, wsi_base_file
from tools.settings import UploadSettings

log = logging.getLogger(__name__)

MEDIA_TYPES = {
    "DICOM": "application/dicom",
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "TIFF": "image/tiff",
    "BMP": "image/bmp",
    "GIF": "image/gif",
}
SUPPORTED = (
    "DICOM (.dcm, also gzip-wrapped), a ZIP of one DICOM series (or of a DICOMDIR with "
    "its files), a NIfTI (.nii, .nii.gz) or NRRD (.nrrd) volume, PNG, JPEG, TIFF, BMP, GIF"
)
_WSI_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.77.1.6"  # read tile by tile: no whole-image limit
_CHUNK = 1 << 20


def _mb(n: int) -> str:
    return f"{n / 1024**2:,.1f} MB"


def _plain(exc: UnreadableImageError) -> str:
    """The reader's reason without the stored file's name and without a library's words.

    Readers append what pydicom or Pillow said in a trailing parenthesis: that goes to
    the log; a parenthesis listing the supported types stays.
    """
    reason = str(exc).split(": ", 1)[-1]
    match = re.fullmatch(r"(?s)(.*?)\s*\(([^()]*)\)", reason)
    if match is None or match[2].lower().startswith("supported"):
        return reason
    log.info("upload refused: %s", reason)
    return f"{match[1]}; the file is probably damaged or cut short"


def _inflated_size(path: Path, limit: int, name: str) -> int:
    """Inflate a gzip file without keeping it, stopping as soon as it passes `limit`."""
    total = 0
    try:
        with gzip.open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                total += len(chunk)
                if total > limit:
                    raise UploadRejectedError(
                        f"{name}: the gzip content inflates beyond the limit of {_mb(limit)}"
                    )
    except (OSError, EOFError, zlib.error) as exc:
        log.info("upload refused: gzip data broken: %s", exc)
        raise UploadRejectedError(
            f"{name}: the gzip-compressed data is damaged or cut short; compress it again"
        ) from exc
    return total


def _raster_geometry(path: Path, fmt: str, name: str) -> tuple[int, int, bool]:
    """Return (pixels, frames, tiled) from the header of a PNG, JPEG, TIFF, BMP or GIF."""
    if fmt == "TIFF":
        with tifffile.TiffFile(path) as tif:
            pages = list(tif.pages)
            if not pages:
                raise UploadRejectedError(f"{name}: the TIFF file has no readable page")
            first = pages[0]
            tiled = bool(getattr(first, "is_tiled", False))
            pixels = sum(int(p.shape[0]) * int(p.shape[1]) for p in pages)
            return pixels, len(pages), tiled
    with Image.open(path) as img:
        if img.format not in ("PNG", "JPEG", "MPO", "BMP", "GIF"):
            raise UploadRejectedError(f"{name}: {img.format} images are not supported")
        frames = int(getattr(img, "n_frames", 1))
        return img.width * img.height * frames, frames, False


def _dicom_geometry(path: Path, name: str) -> tuple[int, int, bool]:
    ds, _ = read_dicom(path, stop_before_pixels=True)
    if "DirectoryRecordSequence" in ds:
        raise UploadRejectedError(
            f"{name}: a DICOMDIR is an index of a DICOM folder, not an image; "
            "upload the image files it lists"
        )
    rows, cols = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
    if rows * cols == 0:
        raise UploadRejectedError(f"{name}: this DICOM object has no image (no Rows/Columns)")
    frames = frame_count(ds)
    return rows * cols * frames, frames, str(ds.get("SOPClassUID", "")) == _WSI_SOP_CLASS


def _check_series(path: Path, name: str, limits: UploadSettings, unpack_to: Path | None) -> str:
    """Check a ZIP: safe to unpack, then a DICOM series or a DICOM whole-slide image.

    A series must stay within the frame and pixel limits; a slide (read tile by tile) only
    within the slide size limit. The files are unpacked into `unpack_to` (kept for the
    caller), or into a temporary folder.
    """
    size = path.stat().st_size
    if size > largest_upload(limits):
        raise UploadRejectedError(
            f"{name}: {_mb(size)} exceeds the upload limit of {_mb(largest_upload(limits))}"
        )
    with contextlib.ExitStack() as stack:
        if unpack_to is None:
            unpack_to = Path(
                stack.enter_context(tempfile.TemporaryDirectory(dir=path.parent, prefix=".check-"))
            )
        unpacked = unpack_archive(path, unpack_to / "files", name, limits)
        if wsi_base_file(unpacked.files) is not None:
            if size > limits.max_slide_bytes:
                raise UploadRejectedError(
                    f"{name}: {_mb(size)} exceeds the slide upload limit of "
                    f"{_mb(limits.max_slide_bytes)}"
                )
            return WSI_ARCHIVE_MEDIA_TYPE
        if size > limits.max_bytes:
            raise UploadRejectedError(
                f"{name}: {_mb(size)} exceeds the upload limit of {_mb(limits.max_bytes)}"
            )
        found = group_series(unpacked.files, key=None)
        if not found:
            raise UploadRejectedError(
                f"{name}: the ZIP archive holds no DICOM image; upload a ZIP of the DICOM "
                "files of a series (or of a DICOMDIR with its files)"
            )
        main = max(found, key=lambda s: s.frames)
        pixels = frames = 0
        for file in main.files:
            p, f, _ = _dicom_geometry(file, name)
            pixels, frames = pixels + p, frames + f
    if frames > limits.max_frames:
        raise UploadRejectedError(
            f"{name}: the series has {frames:,} slices, over the limit of {limits.max_frames:,}"
        )
    if pixels > limits.max_pixels:
        raise UploadRejectedError(
            f"{name}: the series has {pixels:,} pixels, over the limit of {limits.max_pixels:,}"
        )
    return SERIES_MEDIA_TYPE


def check_upload(
    path: Path, name: str, limits: UploadSettings, *, unpack_to: Path | None = None
) -> str:
    """Check a received file against the upload limits and return its media type.

    Raises UploadRejectedError naming the broken limit or the unsupported type. Only
    headers are read; `name` is used in messages only. A ZIP is unpacked to be checked:
    into ``unpack_to / "files"`` when given (the caller reads and removes it), else into
    a temporary folder.
    """
    size = path.stat().st_size
    if size == 0:
        raise UploadRejectedError(f"{name}: the file is empty")
    with path.open("rb") as fh:
        head = fh.read(132)
    if volume_format(path) is not None:
        return check_volume(path, name, limits)
    if is_zip(head):
        try:
            return _check_series(path, name, limits, unpack_to)
        except UnreadableImageError as exc:  # its message names a stored file: use `name`
            raise UploadRejectedError(f"{name}: {_plain(exc)}") from exc
    fmt = raster_format(head) or "DICOM"
    may_be_slide = fmt in ("TIFF", "DICOM") and head[:2] != GZIP_MAGIC
    if size > (largest_upload(limits) if may_be_slide else limits.max_bytes):
        raise UploadRejectedError(
            f"{name}: {_mb(size)} exceeds the upload limit of {_mb(limits.max_bytes)}"
            + (
                f" ({_mb(limits.max_slide_bytes)} for tiled whole-slide files)"
                if may_be_slide
                else ""
            )
        )
    try:
        if fmt == "DICOM":
            if head[:2] == GZIP_MAGIC:
                _inflated_size(path, limits.max_bytes, name)
            pixels, frames, tiled = _dicom_geometry(path, name)
        else:
            pixels, frames, tiled = _raster_geometry(path, fmt, name)
    except UnreadableImageError as exc:  # its message names the stored file: use `name`
        raise UploadRejectedError(f"{name}: {_plain(exc)}") from exc
    except (
        tifffile.TiffFileError,
        UnidentifiedImageError,
        OSError,
        ValueError,
        SyntaxError,
        IndexError,
        EOFError,
    ) as exc:
        log.info("upload refused: %s header unreadable: %s: %s", fmt, type(exc).__name__, exc)
        raise UploadRejectedError(
            f"{name}: the {fmt} header cannot be read; the file is damaged, cut short or "
            f"not really {fmt}. Supported: {SUPPORTED}"
        ) from exc
    if size > limits.max_bytes and not tiled:
        raise UploadRejectedError(
            f"{name}: {_mb(size)} exceeds the upload limit of {_mb(limits.max_bytes)} "
            f"(tiled whole-slide files may have up to {_mb(limits.max_slide_bytes)})"
        )
    if frames > limits.max_frames and not tiled:
        raise UploadRejectedError(
            f"{name}: {frames:,} frames exceed the limit of {limits.max_frames:,}"
        )
    if pixels > limits.max_pixels and not tiled:
        raise UploadRejectedError(
            f"{name}: {pixels:,} pixels exceed the limit of {limits.max_pixels:,} "
            "(too large to decode safely; a whole-slide image must be a tiled TIFF or DICOM)"
        )
    return MEDIA_TYPES[fmt]


def upload_cap(head: bytes, limits: UploadSettings) -> tuple[int, str]:
    """The most bytes a file starting with `head` (its first 132 bytes) may have; its kind.

    For refusing an upload while it is still arriving, so an upper bound of what
    `check_upload` accepts: only a TIFF, a DICOM or a ZIP may be a tiled whole-slide image
    with up to `max_slide_bytes`; anything else (PNG, JPEG, gzip, ...) has `max_bytes`.
    """
    if head[:2] != GZIP_MAGIC and (is_zip(head) or raster_format(head) in (None, "TIFF")):
        return largest_upload(limits), "a TIFF, DICOM or ZIP file"
    kind = "a gzip-compressed file" if head[:2] == GZIP_MAGIC else f"a {raster_format(head)} image"
    return limits.max_bytes, kind


def largest_upload(limits: UploadSettings) -> int:
    """The most bytes any upload may have: tiled whole-slide files may exceed `max_bytes`."""
    return max(limits.max_bytes, limits.max_slide_bytes)


__all__ = [
    "MEDIA_TYPES",
    "SUPPORTED",
    "check_upload",
    "largest_upload",
    "upload_cap",
]
