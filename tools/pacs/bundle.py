"""Retrieved instances written into one ZIP, ready for the ordinary upload path.

The ZIP is deterministic (members sorted by SOP Instance UID, neutral member names,
a fixed timestamp), so attaching the same series twice gives the same file and the
session store keeps one attachment. Limits are enforced while writing, so a series far
over the upload limits is stopped early instead of being downloaded whole.
"""

from __future__ import annotations

import io
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

from pydicom import dcmwrite
from pydicom.dataset import Dataset

from tools.errors import UploadRejectedError
from tools.imaging.limits import captured_warnings
from tools.settings import UploadSettings

__all__ = ["write_series_zip"]

_EPOCH = (1980, 1, 1, 0, 0, 0)


def _encode(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    with captured_warnings():
        dcmwrite(buf, ds, enforce_file_format=getattr(ds, "file_meta", None) is not None)
    return buf.getvalue()


def write_series_zip(
    instances: Iterable[Dataset],
    target: Path,
    limits: UploadSettings,
    what: str = "the series",
    on_instance: Callable[[int], None] | None = None,
) -> int:
    """Write `instances` as a ZIP at `target`; return how many were written.

    Raises UploadRejectedError (and removes the partial file) when the series passes the
    upload byte limit or the archive member limit. `on_instance(bytes)` is called after
    each instance (for a progress bar).
    """
    encoded: list[tuple[str, Path]] = []
    total = 0
    scratch = Path(tempfile.mkdtemp(dir=target.parent, prefix=".retrieve-"))
    try:
        for ds in instances:
            data = _encode(ds)
            total += len(data)
            part = scratch / f"{len(encoded):06d}"
            part.write_bytes(data)
            encoded.append((str(ds.get("SOPInstanceUID", len(encoded))), part))
            if len(encoded) > limits.max_archive_members:
                raise UploadRejectedError(
                    f"{what} has more than {limits.max_archive_members:,} instances, over the "
                    "archive member limit"
                )
            if total > limits.max_bytes:
                raise UploadRejectedError(
                    f"{what} is larger than the upload limit of "
                    f"{limits.max_bytes / 1024**2:,.1f} MB"
                )
            if on_instance is not None:
                on_instance(len(data))
        if not encoded:
            raise UploadRejectedError(f"{what} has no instances on the PACS")
        encoded.sort(key=lambda item: item[0])
        with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as zf:
            for number, (_, part) in enumerate(encoded):
                info = zipfile.ZipInfo(f"i{number:05d}.dcm", date_time=_EPOCH)
                zf.writestr(info, part.read_bytes())
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return len(encoded)
