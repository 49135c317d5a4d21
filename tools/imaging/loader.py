"""Load an uploaded image file into pixels plus the (de-identified) metadata tools need.

`load_file` dispatches on the file's content, not its name: DICOM (plain, gzip-wrapped
or without file meta), else PNG, JPEG, TIFF or BMP. DICOM pixels are modality values
(Rescale Slope/Intercept applied: Hounsfield units for CT); colour becomes RGB. Header
facts reach callers only as a de-identified summary; the raw header is kept only when
asked for (`keep_raw_header`, for local tools that never talk to the model).
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.pixels.processing import apply_color_lut

from tools.errors import InputError, UnreadableImageError
from tools.imaging import dicom_meta
from tools.imaging.archive import is_zip
from tools.imaging.deid import label
from tools.imaging.dicom import GZIP_MAGIC, decode_frame, frame_count, read_dicom
from tools.imaging.image import DEFAULT_MAX_PIXELS, LoadedImage, check_frame
from tools.imaging.limits import DEFAULT_DECODE_TIMEOUT_S
from tools.imaging.raster import load_raster, raster_format
from tools.imaging.volume_header import may_be_volume, volume_format

__all__ = ["LoadedImage", "load_file", "sniff"]

Image.MAX_IMAGE_PIXELS = None  # our own pixel limit is enforced at upload and load time

PROCESS_KEY = secrets.token_hex(16)
"""De-identification key when the caller gives none: pseudonyms unlinkable across runs."""


def _to_modality(stored: NDArray[np.generic], slope: float, intercept: float) -> NDArray[Any]:
    if slope == 1.0 and intercept == 0.0:
        return stored
    if slope == 1.0 and float(intercept).is_integer() and np.issubdtype(stored.dtype, np.integer):
        # Stay in 16 bits when the shifted range fits: half the memory traffic of int32.
        icpt = int(intercept)
        lo, hi = int(stored.min()) + icpt, int(stored.max()) + icpt
        small = stored.dtype.itemsize <= 2 and lo >= -32768 and hi <= 32767
        target = np.dtype(np.int16 if small else np.int32)
        # A freshly decoded array of the right type is ours alone: shift it in place.
        own = stored.dtype == target and stored.flags.owndata and stored.flags.writeable
        shifted: NDArray[Any] = stored if own else stored.astype(target)
        np.add(shifted, icpt, out=shifted)
        return shifted
    return stored.astype(np.float32) * np.float32(slope) + np.float32(intercept)


def _load_dicom(
    path: Path,
    frame: int,
    key: str,
    keep_raw_header: bool,
    timeout_s: float,
    max_pixels: int,
    with_metadata: bool,
) -> LoadedImage:
    ds, notes = read_dicom(path)
    return _frame_of(
        ds, path, frame, notes, key, keep_raw_header, timeout_s, max_pixels, with_metadata
    )


def _frame_of(
    ds: Dataset,
    path: Path,
    frame: int,
    notes: list[str],
    key: str,
    keep_raw_header: bool,
    timeout_s: float,
    max_pixels: int,
    with_metadata: bool = True,
) -> LoadedImage:
    count = frame_count(ds)
    check_frame(frame, count, label(path))
    rows, cols = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
    if rows * cols > max_pixels:
        raise InputError(f"{label(path)}: a frame of {cols}×{rows} pixels exceeds {max_pixels:,}")
    stored, decode_notes = decode_frame(ds, frame, label(path), timeout_s)
    try:
        image = _assemble(ds, frame, stored, notes + decode_notes, key, with_metadata)
    except (ValueError, NotImplementedError) as exc:  # a malformed value pydicom parses lazily
        raise UnreadableImageError(f"{label(path)}: malformed DICOM header ({exc})") from exc
    return replace(image, frame_count=count, raw_header=ds if keep_raw_header else None)


def _assemble(
    ds: Dataset, frame: int, stored: NDArray[Any], notes: list[str], key: str, with_metadata: bool
) -> LoadedImage:
    """Turn decoded stored values and the header into a LoadedImage (no raw header)."""
    photometric = dicom_meta.code_string(ds, "PhotometricInterpretation", dicom_meta.PHOTOMETRIC)
    modality = dicom_meta.code_string(ds, "Modality", dicom_meta.MODALITIES)
    if photometric == "PALETTE COLOR" and stored.ndim == 2:
        rgb = apply_color_lut(stored, ds)
        stored = rgb if rgb.dtype == np.uint8 else (rgb >> 8).astype(np.uint8)
        photometric = "RGB"
    grayscale = stored.ndim == 2
    if not grayscale and not photometric:
        photometric = "RGB"
    pixels: NDArray[Any] = stored
    units = None
    if grayscale:
        slope, intercept = dicom_meta.rescale(ds, frame)
        pixels = _to_modality(stored, slope, intercept)
        rescale_type = dicom_meta.code_string(ds, "RescaleType", dicom_meta.RESCALE_TYPES)
        units = rescale_type or ("HU" if modality == "CT" else None)
    elif photometric and photometric.startswith("YBR"):
        photometric = "RGB"  # pydicom converted the colour space
    spacing, spacing_note = dicom_meta.pixel_spacing(ds, frame)
    notes += [n for n in (spacing_note, dicom_meta.burned_in_note(ds)) if n]
    window = dicom_meta.header_window(ds, frame) if grayscale else None
    lut = dicom_meta.voi_lut(ds) if grayscale else None
    summary = dicom_meta.safe_summary(ds, key) if with_metadata else {}
    return LoadedImage(
        pixels=pixels,
        source_format="DICOM",
        mode=photometric or ("MONOCHROME2" if grayscale else "RGB"),
        spacing_mm=spacing,
        modality=modality,
        body_part=summary.get("BodyPartExamined"),
        window=(lut.describe() if lut else window.describe() if window else None),
        notes=notes,
        frame_index=frame,
        photometric=photometric,
        units=units,
        header_window=window,
        voi_lut=lut,
        metadata=summary,
    )


def sniff(path: Path) -> str:
    """Return 'dicom', 'raster', 'series' (a ZIP), 'volume' (NIfTI, NRRD) or 'unknown'.

    Decided from the first bytes (inflated for a gzip file, which may be a ``.nii.gz``).
    """
    try:
        with path.open("rb") as fh:
            head = fh.read(132)
    except OSError as exc:
        raise InputError(f"{label(path)}: cannot be opened ({exc.strerror})") from exc
    if head[128:132] != b"DICM" and may_be_volume(head) and volume_format(path) is not None:
        return "volume"
    if head[128:132] == b"DICM" or head[:2] == GZIP_MAGIC:
        return "dicom"
    if raster_format(head):
        return "raster"
    if is_zip(head):
        return "series"
    return "unknown"


def load_file(
    path: Path,
    *,
    frame: int = 0,
    deid_key: str | None = None,
    keep_raw_header: bool = False,
    timeout_s: float = DEFAULT_DECODE_TIMEOUT_S,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    with_metadata: bool = True,
) -> LoadedImage:
    """Decode one frame of a single DICOM, PNG, JPEG, TIFF or BMP file (not an archive).

    `deid_key` is the session's de-identification key (see `deid.session_key`); files
    that are neither recognised images nor DICOM raise UnreadableImageError; archives of
    a series are read slice by slice by `tools.imaging.reader.load_image`.
    `with_metadata=False` skips the de-identified header summary (`metadata`,
    `body_part`) of a DICOM file, for callers that only need pixels (the renderer).
    """
    kind = sniff(path)
    if kind == "raster":
        return load_raster(path, frame, timeout_s, max_pixels)
    if kind == "series":
        raise UnreadableImageError(f"{label(path)}: a ZIP archive is not a single image file")
    if kind == "volume":
        raise UnreadableImageError(f"{label(path)}: a NIfTI or NRRD volume is read slice by slice")
    # Unknown content may still be a DICOM without preamble; read_dicom says if not.
    key = deid_key or PROCESS_KEY
    return _load_dicom(path, frame, key, keep_raw_header, timeout_s, max_pixels, with_metadata)
