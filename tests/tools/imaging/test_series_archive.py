"""A ZIP of DICOM slices is one series attachment: safe unpacking, slices, volume, tools."""

from __future__ import annotations

import io
import json
import stat
import warnings
import zipfile
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MediaStorageDirectoryStorage, generate_uid

from assistant.sessions import SessionStore
from tests.tools.imaging.conftest import tool_context
from tests.tools.imaging.factory import PHI_VALUES, ct_phantom, make_dataset
from tools.attachments import AttachmentKind
from tools.errors import ToolArgumentError, UploadRejectedError
from tools.imaging.archive import SERIES_MEDIA_TYPE
from tools.imaging.deid import safe_display_name
from tools.imaging.describe import DescribeImageArgs, describe_image
from tools.imaging.reader import load_image
from tools.imaging.uploads import check_upload
from tools.imaging.view import ViewDicomArgs, view_dicom
from tools.imaging.volume import load_volume, open_series, series_index
from tools.intake import inspect_upload
from tools.settings import UploadSettings

LIMITS = UploadSettings(max_bytes=5_000_000, max_pixels=10_000_000, max_frames=50)
ZS = [6.0, 0.0, 4.0, 2.0, 8.0]  # stored out of order; slice i must come out at z = 2 i


def _slice_bytes(z: float, series: str = "1.2.826.0.1.3680043.8.498.777124") -> bytes:
    stored = ct_phantom(16, 12)
    stored[0, 0] = int(z * 10) + 1024  # marks the slice: HU at [0, 0] = 10 z
    ds = make_dataset(stored, spacing=(0.5, 0.75))
    ds.SeriesInstanceUID, ds.SeriesNumber = series, 3
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.ImagePositionPatient = [-10.0, 20.0, z]
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _series_zip(tmp_path: Path, name: str = "Quixote_Dulcinea_CT.zip") -> Path:
    members = {f"Quixote_Dulcinea/IM{i:04d}.dcm": _slice_bytes(z) for i, z in enumerate(ZS)}
    members["Quixote_Dulcinea/readme.txt"] = b"exported for Dulcinea Quixote"
    return _zip(tmp_path / name, members)


def test_series_zip_is_one_attachment(tmp_path: Path) -> None:
    archive = _series_zip(tmp_path)
    assert check_upload(archive, archive.name, LIMITS) == SERIES_MEDIA_TYPE
    store = SessionStore(
        tmp_path / "data",
        partial(inspect_upload, limits=LIMITS),
        lambda sid, name, media_type, modality: safe_display_name(
            name, media_type, sid, modality=modality
        ),
    )
    session = store.create()
    att = store.add_upload(session.id, archive)
    assert att.media_type == SERIES_MEDIA_TYPE and att.path.suffix == ".zip"
    assert att.kind is AttachmentKind.SERIES
    facts = att.facts
    assert (facts.frames, facts.default_frame, facts.width, facts.height) == (5, 2, 12, 16)
    assert facts.modality == "CT" and facts.spacing_known
    assert store.attachments(session.id)["img1"].facts == facts  # stored, not recomputed
    assert att.name.startswith("dicom-series-") and "Quixote" not in att.name
    assert list(store.attachments(session.id)) == ["img1"]


def test_slices_in_anatomical_order(tmp_path: Path) -> None:
    archive = _series_zip(tmp_path)
    series = open_series(archive, "k")
    assert series.count == 5 and series.middle == 2
    assert series.series.slice_spacing_mm == 2.0
    for i in range(5):
        image = load_image(archive, frame=i, deid_key="k")
        assert image.frame_count == 5 and image.frame_index == i
        assert image.pixels[0, 0] == 20 * i and image.units == "HU"
    with pytest.raises(ToolArgumentError, match=r"valid frames are 1\.\.5"):
        load_image(archive, frame=5)


def test_volume_geometry(tmp_path: Path) -> None:
    volume = load_volume(_series_zip(tmp_path), "k")
    assert volume.values.shape == (5, 16, 12) and volume.values.dtype == np.float32
    assert volume.spacing_mm == (2.0, 0.5, 0.75)
    np.testing.assert_allclose(volume.values[:, 0, 0], [0, 20, 40, 60, 80])
    # voxel (column 2, row 4, slice 3) → LPS mm: x = -10 + 2·0.75, y = 20 + 4·0.5, z = 6
    np.testing.assert_allclose(volume.affine @ [2, 4, 3, 1], [-8.5, 22.0, 6.0, 1.0])
    np.testing.assert_allclose(volume.affine_ras() @ [0, 0, 0, 1], [10.0, -20.0, 0.0, 1.0])


def test_dicomdir_selects_its_files(tmp_path: Path) -> None:
    listed = {f"CD/DICOM/IM{i}": _slice_bytes(z) for i, z in enumerate([0.0, 3.0])}
    stray = {"CD/OTHER/X1": _slice_bytes(9.0)}
    records = []
    for name in listed:
        record = Dataset()
        record.DirectoryRecordType = "IMAGE"
        record.ReferencedFileID = name.split("/")[1:]
        records.append(record)
    index = Dataset()
    index.FileSetID = "SET"
    index.DirectoryRecordSequence = records
    index.file_meta = FileMetaDataset()
    index.file_meta.MediaStorageSOPClassUID = MediaStorageDirectoryStorage
    index.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    index.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    buf = io.BytesIO()
    index.save_as(buf, enforce_file_format=True)
    archive = _zip(tmp_path / "cd.zip", {"CD/DICOMDIR": buf.getvalue(), **listed, **stray})
    assert check_upload(archive, "cd.zip", LIMITS) == SERIES_MEDIA_TYPE
    series = open_series(archive, "k")
    assert series.count == 2 and series.series.slice_spacing_mm == 3.0
    assert any("DICOMDIR" in note for note in series.notes)


@pytest.mark.parametrize(
    ("members", "limits", "reason"),
    [
        ({"../evil.dcm": b"x"}, LIMITS, "leaves the archive"),
        ({"/etc/evil.dcm": b"x"}, LIMITS, "leaves the archive"),
        ({"C:/evil.dcm": b"x"}, LIMITS, "leaves the archive"),
        (
            {f"f{i}": b"x" for i in range(6)},
            LIMITS.model_copy(update={"max_archive_members": 5}),
            "exceed the limit of 5",
        ),
        (
            {"bomb.dcm": bytes(3_000_000)},
            LIMITS.model_copy(update={"max_unpacked_bytes": 10**6}),
            "over the limit",
        ),
        ({"notes.txt": b"no images here"}, LIMITS, "holds no DICOM image"),
        (
            {f"s{i}": _slice_bytes(float(i)) for i in range(5)},
            LIMITS.model_copy(update={"max_frames": 4}),
            "5 slices, over the limit of 4",
        ),
    ],
)
def test_refused_archives(
    tmp_path: Path, members: dict[str, bytes], limits: UploadSettings, reason: str
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the hostile names
        archive = _zip(tmp_path / "x.zip", members)
    with pytest.raises(UploadRejectedError, match=reason) as info:
        check_upload(archive, "upload.zip", limits)
    assert "evil" not in str(info.value)  # member names are never quoted
    assert [p.name for p in tmp_path.iterdir()] == ["x.zip"]  # nothing left behind


def test_symlink_member_refused(tmp_path: Path) -> None:
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("link.dcm")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(UploadRejectedError, match="symbolic link"):
        check_upload(archive, "link.zip", LIMITS)


def test_tools_on_a_series_never_leak_phi(tmp_path: Path) -> None:
    archive = _series_zip(tmp_path)
    ctx = tool_context(tmp_path, archive, media_type=SERIES_MEDIA_TYPE)
    described = describe_image(DescribeImageArgs(image_id="img1"), ctx)
    assert described.series is not None
    assert (described.series.slices, described.series.shown_slice) == (5, 3)
    assert described.series.slice_spacing_mm == 2.0
    assert described.series.series_uid.startswith("2.25.")
    assert described.frames == 5 and described.pixel_spacing_mm == (0.5, 0.75)
    assert described.file_name.startswith("dicom-series-")
    viewed = view_dicom(ViewDicomArgs(image_id="img1", window="lung"), ctx)
    assert (viewed.frame, viewed.frames) == (3, 5)  # the middle slice, counted from 1
    first = view_dicom(ViewDicomArgs(image_id="img1", frame=1), ctx)
    assert first.frame == 1 and first.artifacts[0].path != viewed.artifacts[0].path
    dump = described.for_model() + viewed.for_model() + json.dumps(described.series.model_dump())
    for value in PHI_VALUES:
        assert value not in dump, value


def test_the_series_index_is_read_once_whatever_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Callers with different session keys share one reading of the headers; only the
    UIDs they are shown differ."""
    import tools.imaging.series as series_module

    archive = _series_zip(tmp_path)
    reads: list[int] = []
    group = series_module.group_series

    def counting(paths: object, key: str | None) -> object:
        reads.append(1)
        return group(paths, key)  # type: ignore[arg-type]

    monkeypatch.setattr("tools.imaging.volume.group_series", counting)
    a, b = open_series(archive, "key-a"), open_series(archive, "key-b")
    load_image(archive, frame=1, deid_key="key-c")
    assert len(reads) == 1
    assert a.slices == b.slices == series_index(archive).slices
    assert a.series.series_uid != b.series.series_uid
    assert a.series.series_uid.startswith("2.25.") and b.series.series_uid.startswith("2.25.")
    assert series_index(archive).series.series_uid == "1.2.826.0.1.3680043.8.498.777124"
