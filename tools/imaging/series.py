"""Group DICOM files into series and sort slices by position; read DICOMDIR indexes.

Slices are ordered along the slice normal (the cross product of the Image Orientation
(Patient) row and column vectors) using Image Position (Patient), which is what viewers
do; Instance Number and then the file name are fallbacks. `group_series` with a key
gives de-identified UIDs, which can be shown to the model; without one it gives the
file's own UIDs, for an index kept in memory and de-identified (`Series.deidentified`)
only where UIDs are described.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset

from tools.errors import UnreadableImageError
from tools.imaging.deid import label, remap_uid
from tools.imaging.dicom import frame_count, read_dicom


@dataclass(frozen=True)
class Series:
    """One series: its slices in anatomical order and what they have in common."""

    series_uid: str
    study_uid: str
    modality: str | None
    series_number: int | None
    files: tuple[Path, ...]
    positions_mm: tuple[float, ...] | None
    slice_spacing_mm: float | None
    frames: int

    def deidentified(self, key: str) -> Series:
        """The same series with its UIDs remapped under the session key `key`."""
        return replace(
            self,
            series_uid=remap_uid(self.series_uid, key),
            study_uid=remap_uid(self.study_uid, key),
        )


def _position(ds: Dataset) -> float | None:
    """Distance along the slice normal, or None without orientation and position."""
    try:
        iop = [float(v) for v in ds.ImageOrientationPatient]
        ipp = np.array([float(v) for v in ds.ImagePositionPatient])
    except (AttributeError, TypeError, ValueError):
        return None
    if len(iop) != 6 or ipp.shape != (3,):
        return None
    normal = np.cross(iop[:3], iop[3:])
    return float(np.dot(normal, ipp))


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def group_series(paths: Iterable[Path], key: str | None) -> list[Series]:
    """Read headers of `paths` and return their series, each with sorted slices.

    Files that are not DICOM images are skipped; series come in (study, series number)
    order of the files' own UIDs, so the order (and the series an archive stands for)
    does not depend on the key. `key` is the session's de-identification key; None keeps
    the files' UIDs (never show those).
    """
    groups: dict[tuple[str, str], list[tuple[Path, Dataset]]] = defaultdict(list)
    for path in paths:
        try:
            ds, _ = read_dicom(path, stop_before_pixels=True)
        except UnreadableImageError:
            continue
        if "Rows" not in ds:
            continue
        study = str(ds.get("StudyInstanceUID", ""))
        series = str(ds.get("SeriesInstanceUID", "")) or f"no-uid:{path.parent}"
        groups[(study, series)].append((path, ds))
    out = []
    for (study, series), members in groups.items():
        positions = [_position(ds) for _, ds in members]
        if all(p is not None for p in positions):
            order = sorted(range(len(members)), key=lambda i: positions[i] or 0.0)
        else:
            order = sorted(
                range(len(members)),
                key=lambda i: (_int(members[i][1].get("InstanceNumber")) or 0, members[i][0].name),
            )
        files = tuple(members[i][0] for i in order)
        sorted_pos = [positions[i] for i in order]
        known = [p for p in sorted_pos if p is not None]
        exact = len(known) == len(sorted_pos)
        gaps = np.diff(known) if exact and len(known) > 1 else np.array([])
        first = members[0][1]
        out.append(
            Series(
                series_uid=series,
                study_uid=study,
                modality=str(first.get("Modality", "")) or None,
                series_number=_int(first.get("SeriesNumber")),
                files=files,
                positions_mm=tuple(round(p, 3) for p in known) if exact else None,
                slice_spacing_mm=round(float(np.median(np.abs(gaps))), 3) if gaps.size else None,
                frames=sum(frame_count(ds) for _, ds in members),
            )
        )
    out.sort(key=lambda s: (s.study_uid, s.series_number or 0, s.series_uid))
    return out if key is None else [s.deidentified(key) for s in out]


def read_dicomdir(path: Path) -> list[Path]:
    """Return the existing image files a DICOMDIR lists, resolved inside its folder."""
    ds, _ = read_dicom(path, stop_before_pixels=True)
    if "DirectoryRecordSequence" not in ds:
        raise UnreadableImageError(f"{label(path)}: not a DICOMDIR (no directory records)")
    root = path.parent.resolve()
    files = []
    for record in ds.DirectoryRecordSequence:
        parts = record.get("ReferencedFileID")
        if not parts:
            continue
        parts = [parts] if isinstance(parts, str) else list(parts)
        candidate = root.joinpath(*[str(p) for p in parts]).resolve()
        if candidate.is_relative_to(root) and candidate.is_file():
            files.append(candidate)
    return files
