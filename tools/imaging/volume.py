"""A CT/MR series uploaded as one ZIP attachment: its slices one by one, or as a volume.

The archive is unpacked once beside the stored upload (``<upload>.d/``, see `archive`),
its files grouped into series (`series.group_series`) and the series with the most
slices is the attachment's image; slice ``i`` is the i-th along the slice normal. Other
series in the same archive are reported, not used. `load_volume` stacks the slices into
modality values (HU for CT) with the voxel spacing and the affine from the headers,
which 3-D tools (TotalSegmentator) need; a NIfTI or NRRD upload (`volume_file`) gives
the same. The index of an archive is read once and kept independent of the session key;
`open_series` de-identifies its UIDs for whoever describes them, so only de-identified
facts leave this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from tools.errors import InputError, UnreadableImageError
from tools.imaging.archive import unpack_once
from tools.imaging.dicom import frame_count, read_dicom
from tools.imaging.image import DEFAULT_MAX_PIXELS, LoadedImage, check_frame
from tools.imaging.limits import DEFAULT_DECODE_TIMEOUT_S
from tools.imaging.loader import load_file
from tools.imaging.series import Series, group_series
from tools.imaging.volume_file import UNITS_UNKNOWN, open_volume
from tools.imaging.volume_header import volume_format

MAX_VOLUME_VOXELS = 400_000_000
"""Refuse to stack a larger volume (about 1.6 GB as float32)."""


@dataclass(frozen=True)
class SeriesFile:
    """The series an archive attachment stands for, slice by slice."""

    series: Series
    slices: tuple[tuple[Path, int], ...]
    """(file, frame) of each slice, in anatomical order."""
    others: tuple[Series, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def count(self) -> int:
        """Number of slices."""
        return len(self.slices)

    @property
    def middle(self) -> int:
        """Index of the middle slice: what is shown when no slice is asked for."""
        return self.count // 2

    def deidentified(self, key: str) -> SeriesFile:
        """The same index with every series' UIDs remapped under the session key `key`."""
        return replace(
            self,
            series=self.series.deidentified(key),
            others=tuple(s.deidentified(key) for s in self.others),
        )

    def describe_others(self) -> list[str]:
        """One line per other series of the archive (never UIDs or descriptions)."""
        return [
            f"series {s.series_number if s.series_number is not None else '?'}: "
            f"{s.modality or 'unknown modality'}, {s.frames} slice(s)"
            for s in self.others
        ]


def open_series(path: Path, key: str) -> SeriesFile:
    """Unpack (once) and index the series archive at `path`; `key` de-identifies its UIDs.

    The index is cached per file and does not depend on the key: every caller (tools with
    the session key, the renderer, the viewer) shares one reading of the headers.
    """
    return series_index(path).deidentified(key)


def series_index(path: Path) -> SeriesFile:
    """The cached index of the series archive at `path`, with the files' own UIDs.

    For callers that need slices, counts and notes only; describe UIDs from `open_series`.
    """
    stat = path.stat()
    return _index_cached(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


def index_series(files: Sequence[Path], notes: Sequence[str] = ()) -> SeriesFile:
    """Index DICOM files as one series attachment: the series with the most slices.

    UIDs are the files' own (see `SeriesFile.deidentified`).
    """
    found = group_series(files, None)
    if not found:
        raise UnreadableImageError("the series archive holds no readable DICOM image")
    main = max(found, key=lambda s: s.frames)  # first of the largest, in study/series order
    others = tuple(s for s in found if s is not main)
    all_notes = list(notes)
    if others:
        all_notes.append(f"the archive holds {len(found)} series; this attachment is the largest")
    return SeriesFile(main, _slices(main), others, tuple(all_notes))


@lru_cache(maxsize=32)
def _index_cached(path: str, size: int, mtime_ns: int) -> SeriesFile:
    del size, mtime_ns  # part of the cache key only
    unpacked = unpack_once(Path(path), "the series archive")
    return index_series(unpacked.files, unpacked.notes)


def _slices(series: Series) -> tuple[tuple[Path, int], ...]:
    if series.frames == len(series.files):
        return tuple((f, 0) for f in series.files)
    out = []
    for f in series.files:
        ds, _ = read_dicom(f, stop_before_pixels=True)
        out += [(f, i) for i in range(frame_count(ds))]
    return tuple(out)


def load_slice(
    path: Path,
    index: int,
    key: str,
    *,
    timeout_s: float = DEFAULT_DECODE_TIMEOUT_S,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    keep_raw_header: bool = False,
) -> LoadedImage:
    """Decode slice `index` (0-based, anatomical order) of a series archive."""
    series = series_index(path)
    check_frame(index, series.count, "this series (slices)")
    file, frame = series.slices[index]
    image = load_file(
        file,
        frame=frame,
        deid_key=key,
        keep_raw_header=keep_raw_header,
        timeout_s=timeout_s,
        max_pixels=max_pixels,
    )
    return replace(
        image, frame_index=index, frame_count=series.count, notes=[*image.notes, *series.notes]
    )


@dataclass(frozen=True)
class Volume:
    """Stacked slices with their geometry.

    `values` is (slices, rows, columns) in modality units; `affine` maps a voxel index
    (column, row, slice, 1) to patient coordinates in mm, DICOM's LPS frame.
    """

    values: NDArray[np.float32]
    spacing_mm: tuple[float, float, float]
    """(slice, row, column) spacing."""
    affine: NDArray[np.float64]
    modality: str | None = None
    units: str | None = None
    notes: list[str] = field(default_factory=list)

    def affine_ras(self) -> NDArray[np.float64]:
        """The affine in the RAS frame NIfTI uses (x and y flipped)."""
        return np.diag([-1.0, -1.0, 1.0, 1.0]) @ self.affine


def _vector(value: object, n: int) -> NDArray[np.float64] | None:
    try:
        out = np.array([float(v) for v in value], np.float64)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        return None
    return out if out.shape == (n,) and np.all(np.isfinite(out)) else None


def _affine(
    first: LoadedImage, last: LoadedImage, count: int, slice_mm: float | None, notes: list[str]
) -> tuple[NDArray[np.float64], tuple[float, float, float]]:
    row_mm, col_mm = first.spacing_mm or (1.0, 1.0)
    if first.spacing_mm is None:
        notes.append("no pixel spacing in the headers: 1 mm assumed, volumes are not physical")
    ds_first, ds_last = first.raw_header, last.raw_header
    iop = _vector(ds_first.get("ImageOrientationPatient"), 6)
    ipp0 = _vector(ds_first.get("ImagePositionPatient"), 3)
    ipp1 = _vector(ds_last.get("ImagePositionPatient"), 3)
    affine = np.eye(4)
    if iop is None or ipp0 is None or ipp1 is None:
        thickness = _vector([ds_first.get("SliceThickness")], 1)
        step_mm = slice_mm or (float(thickness[0]) if thickness is not None else 1.0)
        notes.append(f"no slice position/orientation: axis-aligned slices {step_mm:g} mm apart")
        affine[:3, :3] = np.diag([col_mm, row_mm, step_mm])
        return affine, (step_mm, row_mm, col_mm)
    row_dir, col_dir = iop[:3], iop[3:]
    normal = np.cross(row_dir, col_dir)
    step = (ipp1 - ipp0) / (count - 1) if count > 1 else normal * (slice_mm or 1.0)
    affine[:3, 0] = row_dir * col_mm  # along a row: the column index grows
    affine[:3, 1] = col_dir * row_mm
    affine[:3, 2] = step
    affine[:3, 3] = ipp0
    return affine, (float(np.linalg.norm(step)), row_mm, col_mm)


def load_volume(
    path: Path, key: str, *, max_voxels: int = MAX_VOLUME_VOXELS, timeout_s: float = 120.0
) -> Volume:
    """Stack every slice of a series archive into a volume (modality values, float32).

    A NIfTI or NRRD file (`volume_file`) gives the same: its slices, spacing and affine.
    """
    if volume_format(path) is not None:
        return _file_volume(path, max_voxels)
    series = series_index(path)
    first = load_slice(path, 0, key, keep_raw_header=True, timeout_s=timeout_s)
    if first.channels != 1:
        raise InputError("this series is in colour: a volume needs grayscale slices")
    voxels = series.count * first.height * first.width
    if voxels > max_voxels:
        raise InputError(
            f"the series has {voxels:,} voxels, over the volume limit of {max_voxels:,}"
        )
    values = np.empty((series.count, first.height, first.width), np.float32)
    values[0] = first.pixels
    last = first
    for i in range(1, series.count):
        last = load_slice(path, i, key, keep_raw_header=i == series.count - 1)
        if last.pixels.shape != values.shape[1:]:
            raise UnreadableImageError(
                f"slice {i} is {last.width}×{last.height} pixels, slice 0 is "
                f"{first.width}×{first.height}: the slices do not form one volume"
            )
        values[i] = last.pixels
    notes: list[str] = []
    affine, spacing = _affine(first, last, series.count, series.series.slice_spacing_mm, notes)
    return Volume(values, spacing, affine, first.modality, first.units, notes)


def _file_volume(path: Path, max_voxels: int) -> Volume:
    opened = open_volume(path)
    geometry = opened.geometry
    voxels = int(np.prod(geometry.shape))
    if voxels > max_voxels:
        raise InputError(
            f"the volume has {voxels:,} voxels, over the volume limit of {max_voxels:,}"
        )
    notes = list(geometry.notes) + ([] if geometry.units else [UNITS_UNKNOWN])
    return Volume(
        opened.values(),
        geometry.spacing_mm,
        geometry.affine,
        geometry.modality,
        geometry.units,
        notes,
    )


__all__ = [
    "SeriesFile",
    "Volume",
    "index_series",
    "load_slice",
    "load_volume",
    "open_series",
    "series_index",
]
