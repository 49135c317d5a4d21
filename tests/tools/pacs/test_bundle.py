"""Retrieved instances become one deterministic ZIP within the upload limits."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from tests.tools.imaging.factory import ct_phantom, make_dataset
from tools.errors import UploadRejectedError
from tools.pacs import write_series_zip
from tools.settings import UploadSettings


def _instances(n: int) -> list[Dataset]:
    out = []
    for _ in range(n):
        ds = make_dataset(ct_phantom(8, 8))
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        out.append(ds)
    return out


def test_zip_is_deterministic_and_complete(tmp_path: Path) -> None:
    instances = _instances(3)
    seen: list[int] = []
    a = tmp_path / "a.zip"
    assert write_series_zip(instances, a, UploadSettings(), on_instance=seen.append) == 3
    b = tmp_path / "b.zip"
    write_series_zip(reversed(instances), b, UploadSettings())
    assert a.read_bytes() == b.read_bytes()  # same series in any order: same file
    assert len(seen) == 3 and all(size > 0 for size in seen)
    with zipfile.ZipFile(a) as zf:
        names = zf.namelist()
        uids = [dcmread(zf.open(name)).SOPInstanceUID for name in names]
    assert names == ["i00000.dcm", "i00001.dcm", "i00002.dcm"]  # nothing identifying
    assert uids == sorted(ds.SOPInstanceUID for ds in instances)


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        (UploadSettings(max_archive_members=2), "more than 2 instances"),
        (UploadSettings(max_bytes=1000), "larger than the upload limit"),
    ],
)
def test_limits_stop_early_and_keep_nothing(
    tmp_path: Path, limits: UploadSettings, message: str
) -> None:
    pulled: list[int] = []

    def stream() -> object:
        for i, ds in enumerate(_instances(50)):
            pulled.append(i)
            yield ds

    target = tmp_path / "s.zip"
    with pytest.raises(UploadRejectedError, match=message):
        write_series_zip(stream(), target, limits)  # type: ignore[arg-type]
    assert len(pulled) < 50  # stopped before retrieving the whole series
    assert list(tmp_path.iterdir()) == []


def test_empty_series(tmp_path: Path) -> None:
    with pytest.raises(UploadRejectedError, match="has no instances"):
        write_series_zip([], tmp_path / "s.zip", UploadSettings())
    assert list(tmp_path.iterdir()) == []
