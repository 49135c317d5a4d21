"""NIfTI and NRRD volumes: recognised by content, and their headers in one neutral form.

A volume file is told by its first bytes, never its name: NIfTI-1 (``sizeof_hdr`` 348
and magic ``n+1``), NIfTI-2 (540, ``n+2``), each also gzip-compressed (``.nii.gz``), and
NRRD (``NRRD000``). The format readers (`nifti`, `nrrd_file`) turn a header into a
`StoredVolume`; `volume_file` reorients and decodes it.

When the values count as CT Hounsfield units (`ct_hint`): neither format has a field for
it, so only an explicit word does: NIfTI ``intent_name`` or ``descrip`` holding the word
``CT``, ``HU`` or ``Hounsfield``; an NRRD key-value ``modality:=CT`` (any key ending in
"modality") or ``intensity units:=HU``. Otherwise the modality and the value units are
unknown (and CT window presets are not offered). Header free text is only matched here,
never kept: descriptions can name the patient.
"""

from __future__ import annotations

import gzip
import io
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from tools.imaging.windowing import Window

__all__ = [
    "NIFTI_MEDIA_TYPE",
    "NRRD_MEDIA_TYPE",
    "VOLUME_MEDIA_TYPES",
    "StoredVolume",
    "VolumeFormat",
    "ct_hint",
    "may_be_volume",
    "volume_format",
]

NIFTI_MEDIA_TYPE = "application/x-nifti"
NRRD_MEDIA_TYPE = "application/x-nrrd"
VOLUME_MEDIA_TYPES = frozenset({NIFTI_MEDIA_TYPE, NRRD_MEDIA_TYPE})

VolumeFormat = Literal["NIfTI-1", "NIfTI-2", "NRRD"]
Encoding = Literal["raw", "gzip", "bzip2", "ascii"]

_HEAD = 544  # a NIfTI-2 header (540 bytes) and the start of its extension flag
_GZIP_MAGIC = b"\x1f\x8b"


def _format_of(head: bytes) -> VolumeFormat | None:
    if head.startswith(b"NRRD000"):
        return "NRRD"
    for order in ("<", ">"):
        size = int(np.frombuffer(head[:4], f"{order}i4")[0]) if len(head) >= 4 else 0
        if size == 348 and head[344:347] in (b"n+1", b"ni1"):
            return "NIfTI-1"
        if size == 540 and head[4:7] in (b"n+2", b"ni2"):
            return "NIfTI-2"
    return None


_STARTS = (
    b"NRRD",
    _GZIP_MAGIC,
    *(n.to_bytes(4, order) for n in (348, 540) for order in ("little", "big")),
)


def may_be_volume(head: bytes) -> bool:
    """Whether a file starting with `head` (4 bytes or more) is worth `volume_format`."""
    return head.startswith(_STARTS)


def volume_format(path: Path) -> VolumeFormat | None:
    """The volume format of the file at `path` from its first bytes (inflated if gzip)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(_HEAD)
            if head[:2] == _GZIP_MAGIC:
                head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(
                    head + fh.read(1 << 16), _HEAD
                )
    except (OSError, zlib.error, EOFError):
        return None
    return _format_of(head)


def is_gzip(path: Path) -> bool:
    """Whether the whole file is gzip-compressed (a ``.nii.gz``)."""
    with path.open("rb") as fh:
        return fh.read(2) == _GZIP_MAGIC


def open_binary(path: Path, gzipped: bool) -> io.BufferedIOBase:
    """The file's bytes, inflated on the fly when the whole file is gzip-compressed."""
    return gzip.open(path, "rb") if gzipped else path.open("rb")


def ct_hint(texts: Iterable[str]) -> bool:
    """Whether free header text says CT or HU as a word (upper case), or 'Hounsfield'."""
    for text in texts:
        words = re.split(r"[^A-Za-z0-9]+", text)
        if {"CT", "HU"} & set(words) or any(w.lower() == "hounsfield" for w in words):
            return True
    return False


@dataclass(frozen=True)
class StoredVolume:
    """What a volume header says, format-neutrally; free text (names, notes) left out.

    `shape` is the stored (i, j, k) grid, `ras_affine` maps (i, j, k, 1) to RAS mm (None:
    the header gives no orientation). Voxel data start at `data_offset` of the (inflated,
    when `gzipped`) file, `encoding` as NRRD names it; `skip_after` bytes of the decoded
    stream come before the voxels.
    """

    format: VolumeFormat
    shape: tuple[int, int, int]
    dtype: np.dtype[np.generic]
    ras_affine: NDArray[np.float64] | None
    voxel_mm: tuple[float, float, float]
    """Voxel size along i, j, k from the header (used when there is no orientation)."""
    data_offset: int
    gzipped: bool = False
    encoding: Encoding = "raw"
    skip_after: int = 0
    slope: float = 1.0
    inter: float = 0.0
    ct: bool = False
    """The header says the values are CT Hounsfield units (see `ct_hint`)."""
    window: Window | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def voxels(self) -> int:
        """Number of voxels."""
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        """Bytes of voxel data."""
        return self.voxels * self.dtype.itemsize
