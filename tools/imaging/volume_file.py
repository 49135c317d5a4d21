"""A NIfTI or NRRD upload as a stack of axial slices, read like a DICOM series.

The stored grid is turned (flips and axis swaps from the header's orientation, never
resampled) to the orientation closest to DICOM's axial LPS: columns run towards the
patient's left, rows towards posterior, slices from inferior to superior, so slice 0 is
the lowest, as in a series sorted along its normal. A header without orientation keeps
its stored axes (i: column, j: row, k: slice). Spacing is in mm; values are scaled by
the header (NIfTI ``scl_slope``/``scl_inter``) and count as CT Hounsfield units only on
an explicit hint (`volume_header.ct_hint`). The default display window is the file's
(NIfTI ``cal_min``/``cal_max``) or the volume's central percentiles, the same on every
slice. Voxels are read only within the sizes the header declares (no bombs), once per
file and kept for the next slices (`open_volume`); nothing of the header's free text
reaches a result, a message or the log.
"""

from __future__ import annotations

import bz2
import io
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import nibabel as nib
import numpy as np
from numpy.typing import NDArray

from tools.errors import UnreadableImageError, UploadRejectedError
from tools.imaging.deid import label
from tools.imaging.image import DEFAULT_MAX_PIXELS, LoadedImage, check_frame
from tools.imaging.limits import DEFAULT_DECODE_TIMEOUT_S, call_with_timeout
from tools.imaging.nifti import read_nifti
from tools.imaging.nrrd_file import read_nrrd
from tools.imaging.volume_header import (
    NIFTI_MEDIA_TYPE,
    NRRD_MEDIA_TYPE,
    StoredVolume,
    open_binary,
    volume_format,
)
from tools.imaging.windowing import Window, percentile_window
from tools.settings import UploadSettings

__all__ = [
    "OpenVolume",
    "VolumeGeometry",
    "check_volume",
    "load_volume_slice",
    "media_type_of",
    "open_volume",
    "read_geometry",
    "read_volume",
]

_LPS = nib.orientations.axcodes2ornt(("L", "P", "S"))
_CHUNK = 1 << 20
UNITS_UNKNOWN = "value units unknown: the header does not mark the volume as CT (Hounsfield units)"


@dataclass(frozen=True)
class VolumeGeometry:
    """A volume's slices as shown: shape, spacing and affine after reorientation."""

    stored: StoredVolume
    transform: NDArray[np.float64]
    """nibabel orientation transform from the stored axes to (L, P, S)."""
    shape: tuple[int, int, int]
    """(slices, rows, columns)."""
    spacing_mm: tuple[float, float, float]
    """(slice, row, column)."""
    affine: NDArray[np.float64]
    """(column, row, slice, 1) to patient mm in DICOM's LPS frame, as `volume.Volume`."""
    spacing_known: bool
    stored_axes: str | None
    notes: tuple[str, ...]

    @property
    def modality(self) -> str | None:
        """CT when the header says so, else unknown."""
        return "CT" if self.stored.ct else None

    @property
    def units(self) -> str | None:
        """HU when the header says the values are CT, else unknown."""
        return "HU" if self.stored.ct else None

    @property
    def middle(self) -> int:
        """The slice shown when none is asked for."""
        return self.shape[0] // 2


def _positive(values: tuple[float, float, float]) -> bool:
    return all(np.isfinite(v) and v > 0 for v in values)


def _orient(stored: StoredVolume) -> VolumeGeometry:
    notes = list(stored.notes)
    ras = stored.ras_affine
    if ras is not None and not (
        np.all(np.isfinite(ras)) and abs(np.linalg.det(ras[:3, :3])) > 1e-9
    ):
        ras = None
        notes.append("the header's orientation is degenerate")
    if ras is None:
        transform = np.array([[0.0, 1.0], [1.0, 1.0], [2.0, 1.0]])
        known = _positive(stored.voxel_mm)
        mm = stored.voxel_mm if known else (1.0, 1.0, 1.0)
        affine = np.diag([mm[0], mm[1], mm[2], 1.0])
        notes.append("axes shown as stored (column i, row j, slice k)")
        axes = None
    else:
        transform = nib.orientations.ornt_transform(nib.orientations.io_orientation(ras), _LPS)
        turned = ras @ nib.orientations.inv_ornt_aff(transform, stored.shape)
        affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ turned
        known, axes = True, "".join(nib.orientations.aff2axcodes(ras))
    if not known:
        notes.append("no voxel size in the header: 1 mm assumed, volumes are not physical")
    out = [0, 0, 0]
    for axis in range(3):
        out[int(transform[axis, 0])] = stored.shape[axis]
    # Headers store float32: 0.7 mm reads 0.69999999; six decimals are a nanometre.
    col, row, step = (round(float(v), 6) for v in np.linalg.norm(affine[:3, :3], axis=0))
    return VolumeGeometry(
        stored=stored,
        transform=transform,
        shape=(out[2], out[1], out[0]),
        spacing_mm=(step, row, col),
        affine=affine,
        spacing_known=known,
        stored_axes=axes,
        notes=tuple(notes),
    )


def read_geometry(path: Path) -> VolumeGeometry:
    """The header of the NIfTI or NRRD file at `path`, oriented; nothing decoded."""
    fmt = volume_format(path)
    if fmt is None:
        raise UnreadableImageError(f"{label(path)}: not a NIfTI or NRRD volume")
    try:
        stored = read_nrrd(path) if fmt == "NRRD" else read_nifti(path)
    except UnreadableImageError as exc:  # the readers' words, named as the file is shown
        raise UnreadableImageError(f"{label(path)}: {exc}") from exc
    return _orient(stored)


def media_type_of(geometry: VolumeGeometry) -> str:
    """The media type stored with an upload of this volume."""
    return NRRD_MEDIA_TYPE if geometry.stored.format == "NRRD" else NIFTI_MEDIA_TYPE


def _inflate(fh: io.BufferedIOBase, stored: StoredVolume, need: int) -> bytes:
    """At most `need` bytes of the compressed stream: what the header declared, no more."""
    read = fh.read
    out = bytearray()
    if stored.encoding == "bzip2":
        bz = bz2.BZ2Decompressor()
        while len(out) < need and not bz.eof:
            data = read(_CHUNK) if bz.needs_input else b""
            if bz.needs_input and not data:
                break
            out += bz.decompress(data, need - len(out))
        return bytes(out)
    gz = zlib.decompressobj(16 + zlib.MAX_WBITS)
    while len(out) < need and not gz.eof:
        data = gz.unconsumed_tail or read(_CHUNK)
        if not data:
            break
        out += gz.decompress(data, need - len(out))
    return bytes(out)


def _voxels(path: Path, stored: StoredVolume) -> NDArray[np.generic]:
    """The stored voxels as an (i, j, k) array in native byte order."""
    need = stored.nbytes
    with open_binary(path, stored.gzipped) as fh:
        fh.seek(stored.data_offset)
        if stored.encoding == "raw":
            data = fh.read(need)
        elif stored.encoding == "ascii":
            words = fh.read().split()
            if len(words) < stored.voxels:
                raise UnreadableImageError(f"{label(path)}: the voxel data is cut short")
            numbers = np.asarray(words[: stored.voxels], np.float64)
            return numbers.astype(stored.dtype.newbyteorder("=")).reshape(stored.shape, order="F")
        else:
            data = _inflate(fh, stored, need + stored.skip_after)[stored.skip_after :]
    if len(data) < need:
        raise UnreadableImageError(
            f"{label(path)}: the file ends before its voxel data does: it is cut short"
        )
    voxels = np.frombuffer(data, stored.dtype).reshape(stored.shape, order="F")
    return voxels if stored.dtype.isnative else voxels.astype(stored.dtype.newbyteorder("="))


@dataclass(frozen=True)
class OpenVolume:
    """A decoded volume: stored values in slice order, scaled on the way out."""

    geometry: VolumeGeometry
    stored_values: NDArray[np.generic]
    """(slices, rows, columns), as stored (a view of the file's voxels)."""
    window: Window

    def slice(self, index: int) -> NDArray[np.generic]:
        """Slice `index` (0-based, inferior to superior), scaled, contiguous."""
        return np.ascontiguousarray(_scaled(self.stored_values[index], self.geometry.stored))

    def values(self) -> NDArray[np.float32]:
        """The whole volume as float32 in the header's units."""
        return np.ascontiguousarray(_scaled(self.stored_values, self.geometry.stored), np.float32)


def _scaled(values: NDArray[np.generic], stored: StoredVolume) -> NDArray[np.generic]:
    """Stored values in the header's units (slope and intercept applied)."""
    if values.dtype == np.bool_:
        return values.astype(np.uint8)
    if stored.slope == 1.0 and stored.inter == 0.0:
        return values
    return values.astype(np.float32) * np.float32(stored.slope) + np.float32(stored.inter)


def read_volume(path: Path, *, timeout_s: float = DEFAULT_DECODE_TIMEOUT_S) -> OpenVolume:
    """Decode the whole volume at `path` (uncached): every voxel the header declares."""
    geometry = read_geometry(path)
    stored = geometry.stored
    try:
        raw = call_with_timeout(lambda: _voxels(path, stored), timeout_s, label(path))
    except (OSError, EOFError, zlib.error, ValueError) as exc:  # damaged compressed data
        raise UnreadableImageError(
            f"{label(path)}: the voxel data is damaged or cut short"
        ) from exc
    turned = nib.orientations.apply_orientation(raw, geometry.transform)
    values = np.asarray(turned).transpose(2, 1, 0)
    window = stored.window
    if window is None:
        flat = raw.ravel(order="K")
        sample = np.asarray(flat[:: max(1, flat.size // 262_144)])
        found = percentile_window(_scaled(sample, stored))
        window = Window(found.center, found.width, "auto (volume percentiles)")
    return OpenVolume(geometry, values, window)


def open_volume(path: Path) -> OpenVolume:
    """The decoded volume at `path`, kept for the next slices while the file is unchanged."""
    stat = path.stat()
    return _open_cached(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=2)
def _open_cached(path: str, size: int, mtime_ns: int) -> OpenVolume:
    del size, mtime_ns  # part of the cache key only
    return read_volume(Path(path), timeout_s=120.0)


def image_of(volume: OpenVolume, index: int, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Slice `index` of a decoded volume as a `LoadedImage` (what tools and viewers read)."""
    geometry = volume.geometry
    check_frame(index, geometry.shape[0], "this volume (slices)")
    if geometry.shape[1] * geometry.shape[2] > max_pixels:
        raise UnreadableImageError(f"a slice of this volume exceeds {max_pixels:,} pixels")
    stored = geometry.stored
    _, row_mm, col_mm = geometry.spacing_mm
    notes = list(geometry.notes) + ([] if stored.ct else [UNITS_UNKNOWN])
    metadata = {"Format": stored.format + (" (gzip)" if stored.gzipped else "")}
    if geometry.stored_axes:
        metadata["StoredAxes"] = geometry.stored_axes
    if (stored.slope, stored.inter) != (1.0, 0.0):
        metadata["ValueScaling"] = f"slope {stored.slope:g}, intercept {stored.inter:g}"
    return LoadedImage(
        pixels=volume.slice(index),
        source_format=stored.format,
        mode="MONOCHROME2",
        spacing_mm=(row_mm, col_mm) if geometry.spacing_known else None,
        modality=geometry.modality,
        window=volume.window.describe(),
        notes=notes,
        frame_index=index,
        frame_count=geometry.shape[0],
        photometric="MONOCHROME2",
        units=geometry.units,
        header_window=volume.window,
        metadata=metadata,
    )


def load_volume_slice(
    path: Path,
    index: int,
    *,
    timeout_s: float = DEFAULT_DECODE_TIMEOUT_S,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> LoadedImage:
    """Slice `index` (0-based, inferior to superior) of the NIfTI or NRRD file at `path`."""
    del timeout_s  # the first read of a file runs under its own, longer limit
    return image_of(open_volume(path), index, max_pixels)


def _mb(n: int) -> str:
    return f"{n / 1024**2:,.1f} MB"


def check_volume(path: Path, name: str, limits: UploadSettings) -> str:
    """Check a NIfTI or NRRD upload's header against the limits; return its media type.

    Raises UploadRejectedError naming the broken limit or what is wrong with the header;
    `name` is used in messages only.
    """
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise UploadRejectedError(
            f"{name}: {_mb(size)} exceeds the upload limit of {_mb(limits.max_bytes)}"
        )
    try:
        geometry = read_geometry(path)
    except UnreadableImageError as exc:
        reason = str(exc).removeprefix(f"{label(path)}: ")
        raise UploadRejectedError(f"{name}: {reason}") from exc
    slices, rows, cols = geometry.shape
    if slices > limits.max_frames:
        raise UploadRejectedError(
            f"{name}: the volume has {slices:,} slices, over the limit of {limits.max_frames:,}"
        )
    voxels = slices * rows * cols
    if voxels > limits.max_pixels:
        raise UploadRejectedError(
            f"{name}: the volume has {voxels:,} voxels, over the limit of {limits.max_pixels:,}"
        )
    return media_type_of(geometry)
