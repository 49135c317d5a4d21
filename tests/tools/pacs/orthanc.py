"""A real Orthanc (Debian's `orthanc` + `orthanc-dicomweb`) for the PACS tests.

One server per test session (`orthanc` fixture): loopback only, free ports, its own
storage folder, basic authentication with a generated password. `pacs_data` loads it
with generated studies whose headers carry fake patient data (`PATIENTS`), so PHI tests
can search every output for those exact values. A missing Orthanc is a failure with
install advice, never a skip (scripts/test.sh installs it).
"""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from pydicom.dataset import Dataset
from pydicom.uid import CTImageStorage, generate_uid

from tests.tools.imaging.factory import ct_phantom, make_dataset
from tools.pacs.config import PacsAuth, PacsEndpoint

PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
ADVICE = (
    "install Debian's Orthanc: apt-get install -y orthanc orthanc-dicomweb (scripts/test.sh does)"
)


def orthanc_binary() -> str:
    """Path of the Orthanc executable (Debian puts it in /usr/sbin)."""
    found = shutil.which("Orthanc") or (
        "/usr/sbin/Orthanc" if Path("/usr/sbin/Orthanc").exists() else None
    )
    if found is None or not PLUGIN.exists():
        pytest.fail(f"Orthanc with its DICOMweb plugin is missing: {ADVICE}")
    return found


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Orthanc:
    """A running Orthanc: its URL, credentials and process."""

    url: str
    user: str
    password: str
    process: subprocess.Popen[bytes]
    log: Path

    def endpoint(self, **overrides: Any) -> PacsEndpoint:
        """A PacsEndpoint for this server (DICOMweb under /dicom-web)."""
        values: dict[str, Any] = {
            "base_url": self.url,
            "qido_prefix": "dicom-web",
            "wado_prefix": "dicom-web",
            "stow_prefix": "dicom-web",
            "auth": PacsAuth(kind="basic", username=self.user, password=self.password),
            "timeout_s": 20,
            "retries": 0,
        }
        return PacsEndpoint(**(values | overrides))

    def rest(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A call to Orthanc's own REST API (test set-up and checks)."""
        response = requests.request(
            method, self.url + path, auth=(self.user, self.password), timeout=20, **kwargs
        )
        response.raise_for_status()
        return response

    def upload(self, ds: Dataset) -> None:
        """Store one dataset (POST /instances)."""
        import io

        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        self.rest("POST", "/instances", data=buf.getvalue(),
                  headers={"Content-Type": "application/dicom"})  # fmt: skip


def start_orthanc(folder: Path) -> Orthanc:
    """Start Orthanc on free loopback ports with its storage in `folder`."""
    binary = orthanc_binary()
    http, dicom = free_port(), free_port()
    password = secrets.token_urlsafe(12)
    storage = folder / "storage"
    storage.mkdir(parents=True)
    config = {
        "Name": "MEDASSIST_TEST", "StorageDirectory": str(storage),
        "IndexDirectory": str(storage), "HttpPort": http, "DicomPort": dicom,
        "RemoteAccessAllowed": False, "AuthenticationEnabled": True,
        "RegisteredUsers": {"medassist": password}, "Plugins": [str(PLUGIN)],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"}, "HttpTimeout": 30,
    }  # fmt: skip
    path = folder / "orthanc.json"
    path.write_text(json.dumps(config))
    log = folder / "orthanc.log"
    with log.open("wb") as out:
        process = subprocess.Popen([binary, str(path)], stdout=out, stderr=subprocess.STDOUT)
    server = Orthanc(f"http://127.0.0.1:{http}", "medassist", password, process, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"Orthanc exited ({process.returncode}):\n{log.read_text()[-2000:]}")
        try:
            server.rest("GET", "/system")
            return server
        except requests.RequestException:
            time.sleep(0.2)
    process.kill()
    pytest.fail(f"Orthanc did not answer within 60 s:\n{log.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    """One real Orthanc for the whole test session."""
    server = start_orthanc(tmp_path_factory.mktemp("orthanc"))
    yield server
    server.process.terminate()
    try:
        server.process.wait(10)
    except subprocess.TimeoutExpired:
        server.process.kill()


PATIENTS = {
    "ct": {"PatientName": "Quixote^Dulcinea", "PatientID": "MRN4471923",
           "AccessionNumber": "ACC8812345", "StudyDate": "20240117",
           "StudyDescription": "CT CHEST for Dulcinea Quixote"},
    "cr": {"PatientName": "Karenina^Anna", "PatientID": "MRN5550199",
           "AccessionNumber": "ACC7700001", "StudyDate": "20230502",
           "StudyDescription": "CHEST PA Anna Karenina"},
}  # fmt: skip
"""Fake patients stored in Orthanc; none of these values may reach the model or the logs."""
PACS_PHI = [
    *(v for p in PATIENTS.values() for v in p.values()), "Quixote", "Karenina", "2024-01-17",
    "19610412", "1961-04-12",
]


@dataclass(frozen=True)
class PacsData:
    """What the tests loaded into Orthanc: one CT series and one CR image."""

    ct_study: str
    ct_series: str
    ct_instances: tuple[str, ...]
    """SOP Instance UIDs in slice (z) order."""
    cr_study: str
    cr_series: str
    cr_instance: str
    slice_mm: float
    spacing: tuple[float, float]
    frame_of_reference: str


def _ct_slices(n: int, rows: int, cols: int) -> list[Dataset]:
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    out = []
    for i in range(n):
        stored = ct_phantom(rows, cols)
        if i in (0, n - 1):  # the ends hold air only: the body is n - 2 slices long
            stored[:] = 24
        ds = make_dataset(stored, spacing=(0.5, 0.8))
        for key, value in PATIENTS["ct"].items():
            setattr(ds, key, value)
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
        ds.SeriesNumber, ds.InstanceNumber, ds.SliceThickness = 2, n - i, 2.0
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [-10.0, 20.0, 2.0 * i]
        ds.PatientSex, ds.StudyTime, ds.StudyID = "F", "101500", "7"
        ds.PatientBirthDate = "19610412"
        out.append(ds)
    return out


def _cr_image() -> Dataset:
    yy, xx = np.mgrid[:40, :32]
    pixels = (((yy - 20) ** 2 + (xx - 16) ** 2 < 100) * 900 + 50).astype(np.uint16)
    ds = make_dataset(pixels, modality="CR", intercept=None, window=None, spacing=(0.2, 0.2))
    for key, value in PATIENTS["cr"].items():
        setattr(ds, key, value)
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1"
    ds.SeriesNumber, ds.InstanceNumber = 1, 1
    ds.PatientSex, ds.StudyTime, ds.StudyID = "F", "090000", "3"
    return ds


@pytest.fixture(scope="session")
def pacs_data(orthanc: Orthanc) -> PacsData:
    """Orthanc loaded with a 6-slice CT series (slices uploaded out of order) and a CR image."""
    slices = _ct_slices(6, 32, 24)
    for ds in reversed(slices):
        orthanc.upload(ds)
    cr = _cr_image()
    orthanc.upload(cr)
    first = slices[0]
    return PacsData(
        ct_study=first.StudyInstanceUID, ct_series=first.SeriesInstanceUID,
        ct_instances=tuple(ds.SOPInstanceUID for ds in slices), cr_study=cr.StudyInstanceUID,
        cr_series=cr.SeriesInstanceUID, cr_instance=cr.SOPInstanceUID, slice_mm=2.0,
        spacing=(0.5, 0.8),
        frame_of_reference=first.FrameOfReferenceUID,
    )  # fmt: skip
