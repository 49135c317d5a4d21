"""NRRD headers (``.nrrd`` with attached data) read into a `StoredVolume`.

pynrrd parses the header; the voxels are read by `volume_file` within the sizes the
header declares, never by pynrrd (which inflates a compressed payload whole). A detached
header (``data file``: a ``.nhdr``) is refused: its data cannot come with one upload,
and the path it names is never opened. The space (RAS, LPS, LAS) and ``space
directions`` give the orientation; without them only ``spacings`` are known. Free-text
fields (``content``, comments, key-values) are only matched for a CT hint and dropped.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import nrrd
import numpy as np
from numpy.typing import NDArray

from tools.errors import UnreadableImageError
from tools.imaging.volume_header import Encoding, StoredVolume

__all__ = ["read_nrrd"]

log = logging.getLogger(__name__)

_TYPES = {
    "i1": ("signed char", "int8", "int8_t"),
    "u1": ("uchar", "unsigned char", "uint8", "uint8_t"),
    "i2": ("short", "short int", "signed short", "signed short int", "int16", "int16_t"),
    "u2": ("ushort", "unsigned short", "unsigned short int", "uint16", "uint16_t"),
    "i4": ("int", "signed int", "int32", "int32_t"),
    "u4": ("uint", "unsigned int", "uint32", "uint32_t"),
    "i8": ("longlong", "long long", "long long int", "signed long long",
           "signed long long int", "int64", "int64_t"),
    "u8": ("ulonglong", "unsigned long long", "unsigned long long int", "uint64", "uint64_t"),
    "f4": ("float",),
    "f8": ("double",),
}  # fmt: skip
_DTYPES = {name: code for code, names in _TYPES.items() for name in names}
_ENCODINGS: dict[str, Encoding] = {
    "raw": "raw", "gzip": "gzip", "gz": "gzip", "bzip2": "bzip2", "bz2": "bzip2",
    "ascii": "ascii", "text": "ascii", "txt": "ascii",
}  # fmt: skip
_FLIP_TO_RAS = {
    "right-anterior-superior": (1.0, 1.0, 1.0),
    "ras": (1.0, 1.0, 1.0),
    "left-posterior-superior": (-1.0, -1.0, 1.0),
    "lps": (-1.0, -1.0, 1.0),
    "left-anterior-superior": (-1.0, 1.0, 1.0),
    "las": (-1.0, 1.0, 1.0),
}
_UNITS_MM = {"mm": 1.0, "millimeter": 1.0, "cm": 10.0, "m": 1000.0, "um": 0.001, "µm": 0.001}
_HU_KEYS = frozenset({"intensity units", "intensity_units", "value units", "value_units"})


def _parse(path: Path) -> tuple[dict[str, Any], int, int]:
    """The header fields, where the data start (after line skips) and the file size."""
    try:
        with path.open("rb") as fh:
            header: dict[str, Any] = dict(nrrd.read_header(fh))
            for _ in range(int(header.get("line skip") or header.get("lineskip") or 0)):
                if not fh.readline():
                    break
            return header, fh.tell(), path.stat().st_size
    except (nrrd.NRRDError, ValueError, TypeError, KeyError, IndexError, UnicodeError) as exc:
        log.info("NRRD header refused: %s", type(exc).__name__)  # its text may quote fields
        raise UnreadableImageError("the NRRD header cannot be read") from exc


def _dtype(header: dict[str, Any]) -> np.dtype[np.generic]:
    code = _DTYPES.get(str(header.get("type", "")).strip().lower())
    if code is None:
        raise UnreadableImageError(
            "the NRRD voxel type is not a number type (int8..uint64, float, double)"
        )
    endian = str(header.get("endian", "little")).strip().lower()
    return np.dtype(("<" if endian == "little" else ">") + code)


def _spatial_axes(header: dict[str, Any], sizes: list[int]) -> list[int]:
    """The axes with a space direction (all, without any); others must have one sample."""
    directions = header.get("space directions")
    if directions is None:
        spatial = list(range(len(sizes)))
    else:
        rows = np.asarray(directions, np.float64)
        spatial = [i for i in range(len(sizes)) if np.all(np.isfinite(rows[i]))]
    extra = [sizes[i] for i in range(len(sizes)) if i not in spatial]
    if any(n > 1 for n in extra) or len(spatial) > 3:
        raise UnreadableImageError(
            "the NRRD file holds several values per voxel (a vector, colour or time axis) "
            "or more than three dimensions; upload one scalar 3-D volume"
        )
    return spatial


def _geometry(
    header: dict[str, Any], axes: list[int]
) -> tuple[NDArray[np.float64] | None, tuple[float, float, float], list[str]]:
    units = header.get("space units") or []
    scale = _UNITS_MM.get(str(units[0]).strip().lower(), 1.0) if len(units) else 1.0
    directions, space = header.get("space directions"), str(header.get("space", "")).lower()
    flip = _FLIP_TO_RAS.get(space.strip())
    if directions is None or flip is None:
        spacings = np.asarray(header.get("spacings", [1.0] * (max(axes) + 1)), np.float64)
        mm = [abs(float(spacings[i])) * scale for i in axes] + [1.0] * (3 - len(axes))
        mm = [m if np.isfinite(m) and m > 0 else 1.0 for m in mm]
        return None, (mm[0], mm[1], mm[2]), ["the header gives no orientation"]
    rows = np.asarray(directions, np.float64)[axes] * scale
    affine = np.eye(4)
    affine[:3, : len(axes)] = (rows * np.asarray(flip)).T
    if len(axes) == 2:  # one slice: a unit normal keeps the affine invertible
        normal = np.cross(affine[:3, 0], affine[:3, 1])
        affine[:3, 2] = normal / (np.linalg.norm(normal) or 1.0)
    origin = np.asarray(header.get("space origin", [0.0, 0.0, 0.0]), np.float64) * scale
    affine[:3, 3] = np.where(np.isfinite(origin), origin, 0.0) * np.asarray(flip)
    mm = np.linalg.norm(affine[:3, :3], axis=0)
    return affine, (float(mm[0]), float(mm[1]), float(mm[2])), []


def _ct(header: dict[str, Any]) -> bool:
    for key, value in header.items():
        if not isinstance(value, str):
            continue
        name, text = key.strip().lower(), value.strip().upper()
        if (name.endswith("modality") and text == "CT") or (name in _HU_KEYS and text == "HU"):
            return True
    return False


def read_nrrd(path: Path) -> StoredVolume:
    """The volume an NRRD file holds; UnreadableImageError, in plain words, if unusable."""
    header, offset, size = _parse(path)
    if "data file" in header or "datafile" in header:
        raise UnreadableImageError(
            "this is a detached NRRD header (.nhdr) whose voxels are in another file; save "
            "the volume as one .nrrd file"
        )
    encoding = _ENCODINGS.get(str(header.get("encoding", "")).strip().lower())
    if encoding is None:
        raise UnreadableImageError("the NRRD encoding is not raw, gzip, bzip2 or ascii")
    try:
        sizes = [int(n) for n in header["sizes"]]
        axes = _spatial_axes(header, sizes)
        affine, voxel_mm, notes = _geometry(header, axes)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        log.info("NRRD geometry refused: %s", type(exc).__name__)
        raise UnreadableImageError("the NRRD header's sizes or directions make no sense") from exc
    grid = [sizes[i] for i in axes] + [1] * (3 - len(axes))
    if len(axes) < 2 or min(grid) < 1:
        raise UnreadableImageError("the NRRD header describes no 2-D or 3-D grid of voxels")
    dtype = _dtype(header)
    skip = int(header.get("byte skip") or header.get("byteskip") or 0)
    nbytes = int(np.prod(grid, dtype=np.int64)) * dtype.itemsize
    if skip == -1 and encoding == "raw":
        offset, skip = size - nbytes, 0
    elif skip < 0 or (skip and encoding == "ascii"):
        raise UnreadableImageError("the NRRD byte skip is not supported for this encoding")
    elif encoding == "raw":
        offset, skip = offset + skip, 0
    return StoredVolume(
        format="NRRD",
        shape=(grid[0], grid[1], grid[2]),
        dtype=dtype,
        ras_affine=affine,
        voxel_mm=voxel_mm,
        data_offset=offset,
        encoding=encoding,
        skip_after=skip,
        ct=_ct(header),
        notes=tuple(notes),
    )
