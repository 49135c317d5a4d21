"""NIfTI-1 and NIfTI-2 headers (``.nii``, ``.nii.gz``) read into a `StoredVolume`.

Only the fixed header is parsed (by nibabel); extensions are never read, since they may
carry a whole DICOM header. The orientation is nibabel's best affine (sform, else
qform); with both codes 0 the header states none. ``scl_slope``/``scl_inter`` give the
values' scaling and ``cal_min``/``cal_max`` a display window. ``descrip`` and
``intent_name`` are only matched for a CT hint (`volume_header.ct_hint`); ``descrip``,
``aux_file`` and ``db_name`` never leave this module.
"""

from __future__ import annotations

import logging
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np

from tools.errors import UnreadableImageError
from tools.imaging.volume_header import (
    StoredVolume,
    VolumeFormat,
    ct_hint,
    is_gzip,
    open_binary,
)
from tools.imaging.windowing import Window

__all__ = ["read_nifti"]

log = logging.getLogger(__name__)

_UNITS_MM = {"meter": 1000.0, "mm": 1.0, "micron": 0.001, "unknown": 1.0}
"""Spatial units of ``xyzt_units`` in mm; unknown is taken as mm, as nibabel does."""


def _text(header: nib.Nifti1Header, name: str) -> str:
    return bytes(header[name].item()).decode("latin-1").rstrip("\0 ")


def _header(path: Path) -> tuple[nib.Nifti1Header, bool]:
    gzipped = is_gzip(path)
    try:
        with open_binary(path, gzipped) as fh:
            raw = fh.read(540)
    except (OSError, EOFError, zlib.error) as exc:
        raise UnreadableImageError(
            "the NIfTI file's gzip data is damaged or cut short; compress it again"
        ) from exc
    two = raw[4:7] in (b"n+2", b"ni2")
    if raw[344:347] == b"ni1" or raw[4:7] == b"ni2":
        raise UnreadableImageError(
            "this is the header of a NIfTI .hdr/.img pair, whose voxels are in a separate "
            ".img file; save the volume as one .nii or .nii.gz file"
        )
    kind = nib.Nifti2Header if two else nib.Nifti1Header
    size = 540 if two else 348
    if len(raw) < size:
        raise UnreadableImageError("the NIfTI header is cut short")
    try:
        return kind(raw[:size], check=False), gzipped
    except Exception as exc:  # nibabel's header errors are many; none quote free text
        log.info("NIfTI header refused: %s", type(exc).__name__)
        raise UnreadableImageError("the NIfTI header cannot be read") from exc


def read_nifti(path: Path) -> StoredVolume:
    """The volume a NIfTI file holds; UnreadableImageError, in plain words, if unusable."""
    header, gzipped = _header(path)
    fmt: VolumeFormat = "NIfTI-2" if isinstance(header, nib.Nifti2Header) else "NIfTI-1"
    try:
        shape = tuple(int(n) for n in header.get_data_shape())
        dtype = np.dtype(header.get_data_dtype())
        slope, inter = header.get_slope_inter()
        zooms = [float(z) for z in header.get_zooms()]
        units = header.get_xyzt_units()[0]
        codes = int(header["sform_code"]), int(header["qform_code"])
        affine = np.asarray(header.get_best_affine(), np.float64) if any(codes) else None
    except Exception as exc:  # an unknown datatype code, a broken quaternion ...
        log.info("NIfTI header refused: %s", type(exc).__name__)
        raise UnreadableImageError("the NIfTI header holds values that make no sense") from exc
    if len(shape) > 3 and any(n > 1 for n in shape[3:]):
        extra = int(np.prod(shape[3:]))
        raise UnreadableImageError(
            f"the NIfTI file holds {extra} volumes (a time series or several values per "
            "voxel); upload one 3-D volume"
        )
    grid = (*shape[:3], 1, 1)[:3]
    if min(grid) < 1:
        raise UnreadableImageError("the NIfTI header describes no voxels (a dimension of 0)")
    if dtype.fields is not None or dtype.kind not in "biuf":
        raise UnreadableImageError(
            f"the NIfTI voxels are {dtype} (colour or complex); a grayscale volume is needed"
        )
    offset = int(header.get_data_offset())
    if offset < (544 if fmt == "NIfTI-2" else 352):
        raise UnreadableImageError("the NIfTI header puts the voxels inside the header")
    scale = _UNITS_MM.get(units, 1.0)
    if affine is not None:
        affine[:3] *= scale
    cal = float(header["cal_min"]), float(header["cal_max"])
    window = None
    if all(np.isfinite(cal)) and cal[1] > cal[0]:
        window = Window((cal[0] + cal[1]) / 2, cal[1] - cal[0], "file")
    sizes = (*zooms, 1.0, 1.0)
    notes = () if affine is not None else ("the header gives no orientation",)
    return StoredVolume(
        format=fmt,
        shape=(grid[0], grid[1], grid[2]),
        dtype=dtype.newbyteorder(header.endianness),
        ras_affine=affine,
        voxel_mm=(abs(sizes[0]) * scale, abs(sizes[1]) * scale, abs(sizes[2]) * scale),
        data_offset=offset,
        gzipped=gzipped,
        slope=1.0 if slope is None else float(slope),
        inter=0.0 if inter is None else float(inter),
        ct=ct_hint([_text(header, "intent_name"), _text(header, "descrip")]),
        window=window,
        notes=notes,
    )
