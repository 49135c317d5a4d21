"""A failing PACS (down, wrong password, unknown series, too slow) gives a clear message."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tests.tools.pacs.orthanc import PACS_PHI, Orthanc, PacsData, free_port
from tools.pacs import (
    PacsAuth,
    PacsAuthError,
    PacsClient,
    PacsNotFoundError,
    PacsStoreError,
    PacsTimeoutError,
    PacsUnavailableError,
    StudyQuery,
)

QUERY = StudyQuery(patient_id="MRN4471923")


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server on loopback that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_down(orthanc: Orthanc) -> None:
    endpoint = orthanc.endpoint(base_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(PacsUnavailableError, match=r"PACS 'test' .* is not reachable"):
        PacsClient("test", endpoint).search_studies(QUERY)


def test_wrong_password(orthanc: Orthanc) -> None:
    auth = PacsAuth(kind="basic", username=orthanc.user, password="not-the-password")
    with pytest.raises(PacsAuthError, match=r"refused the credentials \(HTTP 401\)"):
        PacsClient("test", orthanc.endpoint(auth=auth)).search_studies(QUERY)


def test_unknown_series_and_wrong_prefix(orthanc: Orthanc, pacs_data: PacsData) -> None:
    client = PacsClient("test", orthanc.endpoint())
    with pytest.raises(PacsNotFoundError, match="404 Not Found while retrieving a series"):
        list(client.iter_series(pacs_data.ct_study, "1.2.3.4.5.6"))
    wrong = PacsClient("test", orthanc.endpoint(qido_prefix="wado-rs"))
    with pytest.raises(PacsNotFoundError, match="prefixes"):
        wrong.search_studies(QUERY)


def test_slow(orthanc: Orthanc, silent_server: int) -> None:
    endpoint = orthanc.endpoint(base_url=f"http://127.0.0.1:{silent_server}", timeout_s=0.5)
    started = time.monotonic()
    with pytest.raises(PacsTimeoutError, match=r"did not answer within 0.5 s while searching"):
        PacsClient("test", endpoint).search_studies(QUERY)
    assert time.monotonic() - started < 5


def test_store_needs_opt_in(orthanc: Orthanc, pacs_data: PacsData) -> None:
    client = PacsClient("test", orthanc.endpoint())  # stow_enabled is off by default
    ds = next(client.iter_series(pacs_data.cr_study, pacs_data.cr_series))
    with pytest.raises(PacsStoreError, match="does not accept results: set stow_enabled"):
        client.store([ds])


def test_logs_carry_no_query_and_no_uid(
    orthanc: Orthanc, pacs_data: PacsData, caplog: pytest.LogCaptureFixture
) -> None:
    """dicomweb-client and urllib3 log URLs (patient IDs, UIDs) at debug level: redacted."""
    auth = PacsAuth(kind="basic", username=orthanc.user, password="wrong")
    with caplog.at_level(logging.DEBUG):
        client = PacsClient("test", orthanc.endpoint())
        assert client.search_studies(QUERY)
        list(client.iter_series(pacs_data.ct_study, pacs_data.ct_series))
        with pytest.raises(PacsAuthError) as failure:
            PacsClient("test", orthanc.endpoint(auth=auth)).search_studies(QUERY)
    logs = "\n".join(r.getMessage() for r in caplog.records)
    assert "dicom-web/studies" in logs  # the requests were logged...
    for value in [*PACS_PHI, pacs_data.ct_study, pacs_data.ct_series, *pacs_data.ct_instances]:
        assert value not in logs, value  # ...without what identifies the patient
        assert value not in str(failure.value)
