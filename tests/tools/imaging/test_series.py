"""Series grouping, slice ordering by position, and DICOMDIR reading."""

from __future__ import annotations

import random
import warnings
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MediaStorageDirectoryStorage, generate_uid

from tests.tools.imaging.factory import PHI, ct_phantom, make_dataset
from tools.errors import UnreadableImageError
from tools.imaging.series import group_series, read_dicomdir


def _slices(tmp_path: Path, series: str, number: int, zs: list[float]) -> list[Path]:
    paths = []
    for i, z in enumerate(zs):
        ds = make_dataset(ct_phantom(8, 8))
        ds.SeriesInstanceUID, ds.SeriesNumber = series, number
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [0, 0, z]
        ds.InstanceNumber = 100 - i  # deliberately disagrees with the position
        path = tmp_path / f"S{number}I{i}"  # DICOM file IDs: upper case, no dots
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def test_group_and_sort(tmp_path: Path) -> None:
    a = _slices(tmp_path, "1.2.3.1", 1, [10.0, 0.0, 5.0, 2.5, 7.5])
    b = _slices(tmp_path, "1.2.3.2", 2, [0.0, 1.0])
    junk = tmp_path / "notes.txt"
    junk.write_text("not dicom")
    files = [*a, *b, junk]
    random.Random(0).shuffle(files)
    first, second = group_series(files, key="k")
    assert (first.series_number, second.series_number) == (1, 2)
    assert first.files == (a[1], a[3], a[2], a[4], a[0])
    assert first.positions_mm == (0.0, 2.5, 5.0, 7.5, 10.0)
    assert first.slice_spacing_mm == 2.5 and first.frames == 5
    assert first.study_uid == second.study_uid != PHI["StudyInstanceUID"]
    assert first.series_uid.startswith("2.25.") and first.modality == "CT"


def test_without_positions_instance_number_orders(tmp_path: Path) -> None:
    paths = _slices(tmp_path, "1.2.3.9", 3, [1.0, 2.0, 3.0])
    for path in paths:
        ds = dcmread(path)
        del ds.ImagePositionPatient
        ds.save_as(path)
    (series,) = group_series(paths, key="k")
    assert series.files == tuple(reversed(paths)) and series.positions_mm is None


def test_read_dicomdir(tmp_path: Path) -> None:
    media = tmp_path / "media"
    (media / "DIR").mkdir(parents=True)
    slices = _slices(media / "DIR", "1.2.3.4", 1, [0.0, 1.0])
    outside = _slices(tmp_path, "1.2.3.5", 1, [0.0])[0]
    records = []
    for parts in (["DIR", slices[0].name], ["DIR", slices[1].name], ["..", outside.name], ["NOPE"]):
        record = Dataset()
        record.DirectoryRecordType = "IMAGE"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # '..' is not a valid CS value: a hostile index
            record.ReferencedFileID = parts
        records.append(record)
    index = Dataset()
    index.FileSetID = "SET"
    index.DirectoryRecordSequence = records
    index.file_meta = FileMetaDataset()
    index.file_meta.MediaStorageSOPClassUID = MediaStorageDirectoryStorage
    index.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    index.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    index.save_as(media / "DICOMDIR", enforce_file_format=True)
    files = read_dicomdir(media / "DICOMDIR")
    assert files == [p.resolve() for p in slices]  # the one outside the folder is ignored
    assert len(group_series(files, key="k")[0].files) == 2
    with pytest.raises(UnreadableImageError, match="not a DICOMDIR"):
        read_dicomdir(files[0])
