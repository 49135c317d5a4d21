"""Reading DICOM files robustly: gzip wrapping, missing file meta, bounded decoding.

Every failure becomes an `UnreadableImageError` whose message names the problem. The
datasets returned here are raw (they still hold patient data): callers turn them into
de-identified summaries (`tools.imaging.loader`) before anything leaves this package.
Messages and log lines never quote header values.
"""

from __future__ import annotations

import gzip
import io
import logging
import re
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np
from numpy.typing import NDArray
from pydicom import dcmread
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels.utils import pixel_array
from pydicom.tag import BaseTag
from pydicom.uid import (
    JPEG2000,
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLosslessSV1,
    JPEGLSNearLossless,
)

from tools.errors import UnreadableImageError
from tools.imaging.deid import label
from tools.imaging.limits import DEFAULT_DECODE_TIMEOUT_S, call_with_timeout, captured_warnings

log = logging.getLogger(__name__)


class RedactValues(logging.Filter):
    """Replace quoted values in pydicom's log messages: they can be patient data."""

    _QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message in place; never drop it."""
        record.msg = self._QUOTED.sub("'<redacted>'", record.getMessage())
        record.args = None
        return True


logging.getLogger("pydicom").addFilter(RedactValues())

GZIP_MAGIC = b"\x1f\x8b"
MAX_INFLATED_BYTES = 2 * 1024**3
"""A gzip-wrapped DICOM may not inflate beyond this (a zip bomb is refused)."""

DECODE_ERRORS = (
    ValueError, RuntimeError, NotImplementedError, AttributeError, KeyError, TypeError,
    OSError, EOFError, IndexError, struct.error, zlib.error,
)  # fmt: skip
"""What pydicom and its codec plugins raise on malformed data."""


def _first_line(exc: BaseException) -> str:
    # Up to three non-empty lines of the message, joined into one line.
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (" / ".join(lines[:3]) or type(exc).__name__)[:400]


def _inflate(path: Path) -> bytes:
    try:
        with gzip.open(path, "rb") as fh:
            data = fh.read(MAX_INFLATED_BYTES + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise UnreadableImageError(f"{label(path)}: broken gzip data ({_first_line(exc)})") from exc
    if len(data) > MAX_INFLATED_BYTES:
        raise UnreadableImageError(
            f"{label(path)}: gzip content inflates beyond {MAX_INFLATED_BYTES // 1024**3} GiB"
        )
    return data


def _plausible(ds: Dataset) -> bool:
    keys = ("SOPClassUID", "Rows", "PixelData", "Modality", "StudyInstanceUID")
    return any(k in ds for k in keys)


def _force_read(data: bytes, stop_before_pixels: bool) -> Dataset | None:
    """Read a file without preamble/meta, tolerating a few junk bytes before the first tag."""
    starts = [0, *[i for i in range(1, 132) if data[i : i + 2] == b"\x08\x00"][:3]]
    for start in starts:
        try:
            fh = io.BytesIO(data[start:])
            ds = dcmread(fh, force=True, stop_before_pixels=stop_before_pixels)
        except (*DECODE_ERRORS, InvalidDicomError):
            continue
        if _plausible(ds):
            return ds
    return None


def _open_source(path: Path) -> tuple[BinaryIO, bool]:
    """The file, or its inflated content when it is gzip-wrapped; and whether it was."""
    fh = path.open("rb")
    if fh.read(2) != GZIP_MAGIC:
        fh.seek(0)
        return fh, False
    fh.close()
    return io.BytesIO(_inflate(path)), True


def read_dicom(path: Path, *, stop_before_pixels: bool = False) -> tuple[Dataset, list[str]]:
    """Parse a DICOM file (plain, gzip-wrapped, or without file meta) into a raw dataset.

    Returns the dataset and notes for the user (never containing header values).
    """
    # Parsing straight from the (buffered) file is as fast as from a bytes copy, and it
    # saves allocating the whole file twice (pydicom copies the pixel data out anyway).
    source, gzipped = _open_source(path)
    notes: list[str] = ["the file was gzip-compressed"] if gzipped else []
    with source, captured_warnings() as caught:
        ds: Dataset | None
        try:
            ds = dcmread(source, stop_before_pixels=stop_before_pixels)
        except InvalidDicomError:
            source.seek(0)
            ds = _force_read(source.read(), stop_before_pixels)
            if ds is None:
                raise UnreadableImageError(
                    f"{label(path)}: not a DICOM file nor a supported image "
                    "(supported: DICOM, PNG, JPEG, TIFF, BMP, GIF)"
                ) from None
            notes.append("the file has no DICOM file meta header; it was read anyway (forced)")
            log.warning("%s: DICOM without file meta, read with force", label(path))
        except DECODE_ERRORS as exc:
            raise UnreadableImageError(
                f"{label(path)}: malformed DICOM header ({_first_line(exc)})"
            ) from exc
        dropped = _check_elements(ds)
        _ensure_transfer_syntax(ds, notes)
    if dropped:
        notes.append(f"{dropped} malformed header element(s) (e.g. an invalid VR) were ignored")
        log.warning("%s: dropped %d malformed DICOM element(s)", label(path), dropped)
    if caught:
        notes.append(f"{len(caught)} header element(s) do not follow the DICOM standard")
        log.warning("%s: %d DICOM reading warning(s)", label(path), len(caught))
    return ds, notes


USED_KEYWORDS = (
    "SOPClassUID", "Modality", "BodyPartExamined", "PhotometricInterpretation", "Rows",
    "Columns", "SamplesPerPixel", "BitsAllocated", "BitsStored", "HighBit",
    "PixelRepresentation", "PlanarConfiguration", "NumberOfFrames", "RescaleSlope",
    "RescaleIntercept", "RescaleType", "WindowCenter", "WindowWidth", "VOILUTFunction",
    "VOILUTSequence", "PixelSpacing", "ImagerPixelSpacing", "BurnedInAnnotation",
    "EstimatedRadiographicMagnificationFactor", "StudyInstanceUID", "SeriesInstanceUID",
    "SOPInstanceUID", "StudyDate", "SeriesNumber", "InstanceNumber", "ImageType",
    "Manufacturer", "ManufacturerModelName", "ImagePositionPatient", "ImageOrientationPatient",
)  # fmt: skip
"""Top-level attributes ingestion reads; a malformed one is dropped up front with a note."""


_USED_TAGS = frozenset(BaseTag(tag_for_keyword(k) or 0) for k in USED_KEYWORDS)


def _check_elements(ds: Dataset) -> int:
    """Parse the elements we use now (pydicom is lazy); drop and count those that fail."""
    dropped = 0
    for tag in _USED_TAGS.intersection(ds.keys()):  # tags, not keywords: no name lookups
        try:
            ds[tag]
        except DECODE_ERRORS:
            del ds[tag]
            dropped += 1
    return dropped


def _sniff_codec(ds: Dataset) -> UID | None:
    """Guess the transfer syntax of encapsulated pixel data from its first fragment."""
    raw = ds["PixelData"].value if "PixelData" in ds else b""
    if not isinstance(raw, bytes | bytearray):
        return None
    soi = raw.find(b"\xff\xd8\xff")
    j2k = raw.find(b"\xff\x4f\xff\x51")
    if j2k >= 0 and (soi < 0 or j2k < soi):
        return JPEG2000
    if soi < 0:
        return None
    markers = (
        (b"\xff\xc3", JPEGLosslessSV1),
        (b"\xff\xf7", JPEGLSNearLossless),
        (b"\xff\xc1", JPEGExtended12Bit),
        (b"\xff\xc0", JPEGBaseline8Bit),
    )
    for marker, uid in markers:
        if raw.find(marker, soi) >= 0:
            return uid
    return None


def _ensure_transfer_syntax(ds: Dataset, notes: list[str]) -> None:
    """Fill a missing Transfer Syntax UID from how the file was parsed or from the codec."""
    meta = getattr(ds, "file_meta", None)
    if meta is None:
        ds.file_meta = meta = FileMetaDataset()
    if meta.get("TransferSyntaxUID"):
        return
    encoding = getattr(ds, "original_encoding", (True, True))
    if "PixelData" in ds and ds["PixelData"].is_undefined_length:
        uid = _sniff_codec(ds)
        if uid is None:
            return  # decode_frame reports the problem if pixels are asked for
        notes.append(f"transfer syntax missing; compressed pixels look like {uid.name}")
    elif encoding[0]:
        uid = ImplicitVRLittleEndian
    else:
        uid = ExplicitVRLittleEndian if encoding[1] else ExplicitVRBigEndian
    meta.TransferSyntaxUID = uid


def frame_count(ds: Dataset) -> int:
    """Return the number of frames (1 for single-frame images)."""
    try:
        return max(1, int(ds.get("NumberOfFrames") or 1))
    except (TypeError, ValueError):
        return 1


def decode_frame(
    ds: Dataset, frame: int, name: str, timeout_s: float = DEFAULT_DECODE_TIMEOUT_S
) -> tuple[NDArray[np.generic], list[str]]:
    """Decode one frame's stored values (colour converted to RGB) within a time limit."""
    if "DirectoryRecordSequence" in ds:
        raise UnreadableImageError(
            f"{name}: this is a DICOMDIR (an index of a DICOM folder), not an image; "
            "upload the image files it lists instead"
        )
    if "PixelData" not in ds:
        sop = UID(str(ds.get("SOPClassUID", ""))).name or "unknown kind"
        raise UnreadableImageError(f"{name}: the DICOM file has no pixel data ({sop})")
    if not ds.file_meta.get("TransferSyntaxUID"):
        raise UnreadableImageError(
            f"{name}: the Transfer Syntax UID is missing and the compressed pixel data "
            "could not be recognised, so it cannot be decoded"
        )
    n = frame_count(ds)

    def work() -> tuple[NDArray[np.generic], int]:
        with captured_warnings() as caught:
            arr = pixel_array(ds, index=frame if n > 1 else None)
        return arr, len(caught)

    # Uncompressed pixels are a reshape of bytes already in memory (linear work, no codec
    # that could loop on bad input), so they need no watchdog thread; codecs do.
    native = not UID(ds.file_meta.TransferSyntaxUID).is_compressed
    try:
        arr, n_warnings = work() if native else call_with_timeout(work, timeout_s, name)
    except DECODE_ERRORS as exc:
        raise UnreadableImageError(
            f"{name}: cannot decode the pixel data "
            f"({UID(ds.file_meta.TransferSyntaxUID).name}): {_first_line(exc)}"
        ) from exc
    notes = [f"{n_warnings} decoder warning(s) for this frame"] if n_warnings else []
    return arr, notes
