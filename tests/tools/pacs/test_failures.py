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
    PacsEndpoint,
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


def test_bearer_token_on_the_wire() -> None:
    """Orthanc has no token login; a loopback HTTP server records what is sent."""
    import http.server

    seen: list[tuple[str, str | None]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append((self.path, self.headers.get("Authorization")))
            body = b"[]"
            self.send_response(200)
            self.send_header("Content-Type", "application/dicom+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        endpoint_url = f"http://127.0.0.1:{server.server_address[1]}"
        auth = PacsAuth(kind="bearer", token="tok-123")
        client = PacsClient("t", PacsEndpoint(base_url=endpoint_url, qido_prefix="rs", auth=auth))
        assert client.search_studies(StudyQuery(description="ct chest")) == []
        client.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    path, header = seen[0]
    assert header == "Bearer tok-123"
    assert path.startswith("/rs/studies?") and "StudyDescription=*ct*chest*" in path
    # nothing found in lower case: tried again in capitals (DICOM matching is case-sensitive)
    assert len(seen) == 2 and "StudyDescription=*CT*CHEST*" in seen[1][0]
