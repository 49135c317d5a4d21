"""Small DICOM files written with pydicom, in every transfer syntax the loader supports.

Every file carries the same fake patient data (`PHI`), so redaction tests can search
for those exact values in whatever leaves the ingestion layer.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import (
    JPEG2000,
    UID,
    CTImageStorage,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

from tests.tools.imaging.ljpeg import encode_lossless_jpeg

PHI: dict[str, str] = {
    "PatientName": "Quixote^Dulcinea",
    "PatientID": "MRN4471923",
    "PatientBirthDate": "19610412",
    "PatientAddress": "42 Wallaby Way Sydney",
    "InstitutionName": "St Elsewhere General",
    "ReferringPhysicianName": "Zhivago^Yuri",
    "AccessionNumber": "ACC8812345",
    "StudyDescription": "CT CHEST for Dulcinea Quixote",
    "StudyInstanceUID": "1.2.826.0.1.3680043.8.498.777123",
    "SeriesInstanceUID": "1.2.826.0.1.3680043.8.498.777124",
    "SOPInstanceUID": "1.2.826.0.1.3680043.8.498.777125",
    "StudyDate": "20240117",
}
"""Fake identifying values; none may appear in results, model requests or logs."""

PRIVATE_PHI = "Dulcinea private note"
NESTED_PHI = "Panza^Sancho"
PHI_VALUES = [*PHI.values(), PRIVATE_PHI, NESTED_PHI, "Quixote", "Dulcinea", "2024-01-17"]

UNCOMPRESSED = (ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian,
                DeflatedExplicitVRLittleEndian)  # fmt: skip
LOSSLESS = (RLELossless, JPEGLossless, JPEGLosslessSV1, JPEGLSLossless, JPEG2000Lossless)
LOSSY = (JPEGBaseline8Bit, JPEGLSNearLossless, JPEG2000)


def ct_phantom(rows: int = 48, cols: int = 40) -> NDArray[np.int16]:
    """Stored values of a CT-like slice: air -1000 HU, a water disc 0 HU, a bone disc 700 HU.

    With Rescale Intercept -1024 the stored values are HU + 1024 (all non-negative).
    """
    yy, xx = np.mgrid[:rows, :cols]
    hu = np.full((rows, cols), -1000, np.int16)
    hu[(yy - rows / 2) ** 2 + (xx - cols / 2) ** 2 < (min(rows, cols) * 0.4) ** 2] = 0
    hu[(yy - rows / 2) ** 2 + (xx - cols / 3) ** 2 < 16] = 700
    return (hu + 1024).astype(np.int16)


def make_dataset(
    pixels: NDArray[Any],
    *,
    photometric: str | None = None,
    modality: str = "CT",
    frames: int = 1,
    intercept: float | None = -1024.0,
    window: tuple[float, float] | None = (40.0, 400.0),
    spacing: tuple[float, float] | None = (0.7, 0.7),
) -> Dataset:
    """A DICOM image with `pixels` (frames×rows×cols[×3] when frames > 1) and fake PHI."""
    ds = Dataset()
    for key, value in PHI.items():
        setattr(ds, key, value)
    ds.SOPClassUID = CTImageStorage
    ds.Modality = modality
    ds.BodyPartExamined = "CHEST"
    ds.Manufacturer = "Acme"
    ds.ReferencedPerformedProcedureStepSequence = Sequence([Dataset()])
    ds.ReferencedPerformedProcedureStepSequence[0].PerformingPhysicianName = NESTED_PHI
    ds.ReferencedPerformedProcedureStepSequence[0].ReferencedSOPInstanceUID = PHI["SOPInstanceUID"]
    # A sequence the profile keeps (its items are cleaned): a name and a UID inside.
    ds.ReferencedSeriesSequence = Sequence([Dataset()])
    ds.ReferencedSeriesSequence[0].SeriesInstanceUID = PHI["SeriesInstanceUID"]
    ds.ReferencedSeriesSequence[0].ReferringPhysicianName = NESTED_PHI
    block = ds.private_block(0x0011, "ACME PRIVATE", create=True)
    block.add_new(0x01, "LO", PRIVATE_PHI)
    color = pixels.ndim == (4 if frames > 1 else 3)
    ds.Rows, ds.Columns = pixels.shape[-3:-1] if color else pixels.shape[-2:]
    ds.SamplesPerPixel = 3 if color else 1
    ds.PhotometricInterpretation = photometric or ("RGB" if color else "MONOCHROME2")
    if color:
        ds.PlanarConfiguration = 0
    bits = 8 if pixels.dtype.itemsize == 1 else 16
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = bits, bits, bits - 1
    ds.PixelRepresentation = 1 if np.issubdtype(pixels.dtype, np.signedinteger) else 0
    if frames > 1:
        ds.NumberOfFrames = frames
    if intercept is not None and not color:
        ds.RescaleIntercept, ds.RescaleSlope = intercept, 1
    if window is not None and not color:
        ds.WindowCenter, ds.WindowWidth = window
    if spacing is not None:
        ds.PixelSpacing = list(spacing)
    ds.PixelData = pixels.tobytes()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds


def _jpeg_frames(pixels: NDArray[Any], frames: int, lossless: bool) -> list[bytes]:
    out = []
    for frame in pixels if frames > 1 else [pixels]:
        if lossless:
            out.append(encode_lossless_jpeg(frame.astype(np.uint16), 16))
        else:
            buf = io.BytesIO()
            Image.fromarray(frame).save(buf, format="JPEG", quality=95)
            out.append(buf.getvalue())
    return out


def write(ds: Dataset, path: Path, syntax: UID) -> Path:
    """Save `ds` to `path` in transfer syntax `syntax` (compressing its pixels as needed)."""
    arr = np.frombuffer(ds.PixelData, _dtype(ds)).reshape(_shape(ds))
    frames = int(ds.get("NumberOfFrames", 1))
    lossless_jpeg = syntax in (JPEGLossless, JPEGLosslessSV1)
    if syntax == JPEGBaseline8Bit or lossless_jpeg:
        if syntax == JPEGBaseline8Bit and ds.SamplesPerPixel == 3:
            ds.PhotometricInterpretation = "YBR_FULL_422"
        if lossless_jpeg:  # our encoder writes unsigned 16-bit samples, predictor 1
            ds.PixelRepresentation = 0
            arr = arr.astype(np.uint16)
        ds.PixelData = encapsulate(_jpeg_frames(arr, frames, lossless_jpeg))
        ds["PixelData"].VR = "OB"
        ds.file_meta.TransferSyntaxUID = syntax
    elif syntax in (RLELossless, JPEGLSLossless, JPEG2000Lossless, *LOSSY):
        options: dict[str, Any] = {"jls_error": 2} if syntax == JPEGLSNearLossless else {}
        if syntax == JPEG2000:
            options = {"j2k_cr": [4]}
        ds.compress(syntax, arr, generate_instance_uid=False, **options)
    else:
        if syntax == ExplicitVRBigEndian:
            ds.PixelData = arr.astype(arr.dtype.newbyteorder(">")).tobytes()
        ds.file_meta.TransferSyntaxUID = syntax
    ds.save_as(path, enforce_file_format=True)
    return path


def _dtype(ds: Dataset) -> np.dtype[Any]:
    kind = "i" if ds.PixelRepresentation else "u"
    return np.dtype(f"<{kind}{ds.BitsAllocated // 8}")


def _shape(ds: Dataset) -> tuple[int, ...]:
    shape: tuple[int, ...] = (ds.Rows, ds.Columns)
    if ds.SamplesPerPixel == 3:
        shape = (*shape, 3)
    frames = int(ds.get("NumberOfFrames", 1))
    return (frames, *shape) if frames > 1 else shape


PYDICOM_SAMPLES = {
    "JPGExtended.dcm": "NEMA WG04 NM1_JPLY, JPEG Extended 12-bit, SOS fixed by pydicom",
    "JPEG-lossy.dcm": "NEMA WG04 NM1_JPLY as published: its SOS is invalid for sequential DCT",
    "JPEG2000.dcm": "NEMA WG04 NM1_J2KI: the same NM image, JPEG 2000 lossy (cut by pydicom)",
}
"""Real files shipped inside the pydicom wheel (`pydicom/data/test_files`), never downloaded.

Provenance: pydicom's test_files/README.txt says they come from the DICOM WG04 compressed
sample sets (ftp://medical.nema.org/MEDICAL/Dicom/DataSets/WG04/), published by NEMA for
testing; their header holds test names ("CompressedSamples^NM1"), no real patient.
pydicom is MIT licensed and its README states no restriction on using these files.
"""


def pydicom_sample(name: str, into: Path) -> Path:
    """Copy a wheel-shipped pydicom test file into `into` (tests never touch site-packages)."""
    assert name in PYDICOM_SAMPLES, f"{name} is not a documented pydicom sample"
    found = get_testdata_file(name, download=False)  # local only: never the network
    assert isinstance(found, str), f"{name} is missing from the installed pydicom wheel"
    return Path(shutil.copy(found, into / name))
