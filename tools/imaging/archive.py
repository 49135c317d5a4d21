"""ZIP archives of DICOM files (a series, a folder, a DICOMDIR with its files): safe unpacking.

An archive is checked before anything is written: member count, total unpacked size
(zip bombs), encryption, links, and member paths that would leave the folder (absolute,
``..``, drive letters) are refused. Members are unpacked under neutral names (``m00000``,
...): member names are often patient names or accession numbers, so they never reach a
message, a log or the model. With a DICOMDIR in the archive only the files it lists are
kept. `zipfile` itself stops a member at its declared size and checks its CRC, so the
declared sizes bound what unpacking writes.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from tools.errors import UnreadableImageError, UploadRejectedError
from tools.imaging.dicom import read_dicom
from tools.settings import UploadSettings

log = logging.getLogger(__name__)

ZIP_MAGIC = b"PK\x03\x04"
SERIES_MEDIA_TYPE = "application/vnd.medassist.dicom-series+zip"
"""Media type of an attachment that is one DICOM series packed in a ZIP archive."""

_CHUNK = 1 << 20
NOTES_FILE = "notes.txt"


@dataclass(frozen=True)
class Unpacked:
    """The files unpacked from an archive and what the reader should know about them."""

    files: tuple[Path, ...]
    notes: list[str] = field(default_factory=list)


def is_zip(head: bytes) -> bool:
    """Whether the first bytes of a file are a ZIP local file header."""
    return head[:4] == ZIP_MAGIC


def _mb(n: int) -> str:
    return f"{n / 1024**2:,.1f} MB"


def _normal(name: str) -> PurePosixPath:
    return PurePosixPath(name.replace("\\", "/"))


def _unsafe(info: zipfile.ZipInfo) -> str | None:
    """Why a member may not be unpacked, or None; the reason never quotes the name."""
    path = _normal(info.filename)
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        return "its path leaves the archive's folder (absolute, '..' or a drive letter)"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "it is a symbolic link"
    if info.flag_bits & 0x1:
        return "it is encrypted"
    return None


def check_archive(path: Path, name: str, limits: UploadSettings) -> list[zipfile.ZipInfo]:
    """Return the file members of the archive at `path`, or raise UploadRejectedError.

    Reads only the central directory; `name` is used in messages only.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        # zipfile quotes member names (patient folders): log the kind of failure only
        log.info("archive refused: central directory unreadable (%s)", type(exc).__name__)
        raise UploadRejectedError(
            f"{name}: not a readable ZIP archive (damaged or cut short); pack it again"
        ) from exc
    if not infos:
        raise UploadRejectedError(f"{name}: the ZIP archive holds no files")
    if len(infos) > limits.max_archive_members:
        raise UploadRejectedError(
            f"{name}: {len(infos):,} files in the archive exceed the limit of "
            f"{limits.max_archive_members:,}"
        )
    for number, info in enumerate(infos, start=1):
        reason = _unsafe(info)
        if reason:
            raise UploadRejectedError(f"{name}: member {number} is refused: {reason}")
    total = sum(i.file_size for i in infos)
    if total > limits.max_unpacked_bytes:
        raise UploadRejectedError(
            f"{name}: the archive unpacks to {_mb(total)}, over the limit of "
            f"{_mb(limits.max_unpacked_bytes)}"
        )
    return infos


def _dicomdir_refs(zf: zipfile.ZipFile, info: zipfile.ZipInfo, scratch: Path) -> set[str]:
    """Member paths (upper case, '/'-separated) that a DICOMDIR member lists."""
    index = scratch / "DICOMDIR"
    _copy_member(zf, info, index)
    try:
        ds, _ = read_dicom(index, stop_before_pixels=True)
    except UnreadableImageError:
        return set()
    finally:
        index.unlink(missing_ok=True)
    root = _normal(info.filename).parent
    refs = set()
    for record in ds.get("DirectoryRecordSequence", []):
        parts = record.get("ReferencedFileID")
        if not parts:
            continue
        parts = [parts] if isinstance(parts, str) else list(parts)
        refs.add(str(root.joinpath(*[str(p) for p in parts])).upper())
    return refs


def _copy_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path) -> int:
    with zf.open(info) as src, target.open("wb") as out:
        shutil.copyfileobj(src, out, _CHUNK)
        return out.tell()


def _select(zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo], scratch: Path) -> Unpacked:
    """Members to unpack (as indexes into `infos`): a DICOMDIR's files, or every file."""
    dirs = [i for i in infos if _normal(i.filename).name.upper() == "DICOMDIR"]
    if len(dirs) != 1:
        return Unpacked(files=())
    refs = _dicomdir_refs(zf, dirs[0], scratch)
    chosen = [i for i in infos if str(_normal(i.filename)).upper() in refs]
    if not chosen:
        note = "the DICOMDIR lists none of the archive's files: every file was read instead"
        return Unpacked(files=(), notes=[note])
    note = f"DICOMDIR found: read the {len(chosen)} file(s) it lists"
    return Unpacked(files=tuple(Path(i.filename) for i in chosen), notes=[note])


def unpack_archive(path: Path, dest: Path, name: str, limits: UploadSettings) -> Unpacked:
    """Check the archive and unpack its DICOM candidates into the new folder `dest`.

    The folder appears atomically (unpacked beside it, then renamed); if another process
    unpacked it first, that copy is kept. Raises UploadRejectedError as `check_archive`.
    """
    infos = check_archive(path, name, limits)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}."))
    try:
        with zipfile.ZipFile(path) as zf:
            selection = _select(zf, infos, tmp)
            wanted = {str(p) for p in selection.files}
            members = [i for i in infos if not wanted or i.filename in wanted]
            written = 0
            for number, info in enumerate(members):
                written += _copy_member(zf, info, tmp / f"m{number:05d}")
                if written > limits.max_unpacked_bytes:  # never, as zipfile stops at the size
                    raise UploadRejectedError(f"{name}: the archive unpacks beyond its limit")
        (tmp / NOTES_FILE).write_text("\n".join(selection.notes))
        with contextlib.suppress(OSError):  # another process won the race: keep its copy
            tmp.rename(dest)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        log.info("archive refused: member data broken (%s)", type(exc).__name__)
        raise UploadRejectedError(
            f"{name}: the ZIP archive's data is damaged or cut short; pack it again"
        ) from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return read_unpacked(dest)


def unpacked_dir(path: Path) -> Path:
    """Where the archive stored at `path` is unpacked (once, beside it)."""
    return path.with_name(path.name + ".d")


REOPEN_LIMITS = UploadSettings(max_archive_members=10**7, max_unpacked_bytes=1 << 50)
"""For unpacking an archive that was already accepted at upload under the configured limits:
paths, links and encryption are checked again, sizes and counts no longer."""


def unpack_once(path: Path, name: str) -> Unpacked:
    """The files of the stored archive at `path`, unpacked beside it on first use."""
    dest = unpacked_dir(path)
    return read_unpacked(dest) if dest.is_dir() else unpack_archive(path, dest, name, REOPEN_LIMITS)


def read_unpacked(dest: Path) -> Unpacked:
    """The files and notes of a folder written by `unpack_archive`."""
    notes = (dest / NOTES_FILE).read_text().splitlines() if (dest / NOTES_FILE).is_file() else []
    return Unpacked(files=tuple(sorted(dest.glob("m[0-9]*"))), notes=notes)


__all__ = [
    "REOPEN_LIMITS",
    "SERIES_MEDIA_TYPE",
    "ZIP_MAGIC",
    "Unpacked",
    "check_archive",
    "is_zip",
    "read_unpacked",
    "unpack_archive",
    "unpack_once",
    "unpacked_dir",
]
