"""A DICOMweb client for one configured PACS, on top of `dicomweb-client`.

`PacsClient` adds what the application needs around the library: authentication from
the endpoint's settings, bounded retries, log redaction, and failures turned into
`PacsError`s that name the PACS and the step (never the query, which holds patient IDs).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import requests
from dicomweb_client.api import DICOMwebClient
from pydicom.dataset import Dataset
from requests.auth import HTTPBasicAuth

from tools.imaging.limits import captured_warnings
from tools.pacs.config import PacsEndpoint
from tools.pacs.errors import (
    PacsAuthError,
    PacsError,
    PacsNotFoundError,
    PacsStoreError,
    PacsTimeoutError,
    PacsUnavailableError,
)
from tools.pacs.hits import SeriesHit, StudyHit, series_hit, study_hit
from tools.pacs.query import StudyQuery
from tools.pacs.redact import install_log_redaction, redact

__all__ = ["PacsClient", "StowResult", "check_uid"]

log = logging.getLogger(__name__)
T = TypeVar("T")

_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_STUDY_FIELDS = ("PatientName", "PatientID", "PatientBirthDate", "StudyDate", "AccessionNumber",
                 "StudyDescription", "ModalitiesInStudy", "NumberOfStudyRelatedSeries",
                 "NumberOfStudyRelatedInstances")  # fmt: skip
_SERIES_FIELDS = ("Modality", "SeriesNumber", "SeriesDescription",
                  "NumberOfSeriesRelatedInstances")  # fmt: skip


def check_uid(value: str, what: str) -> str:
    """`value` if it is a well-formed DICOM UID (digits and dots, at most 64 characters)."""
    value = value.strip()
    if len(value) > 64 or not _UID.match(value):
        raise PacsError(f"{what} {value!r} is not a DICOM UID (digits and dots, at most 64)")
    return value


@dataclass(frozen=True)
class StowResult:
    """What STOW-RS answered: the instances stored and those refused, with reasons."""

    endpoint: str
    stored: tuple[str, ...]
    failed: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        """Whether every instance was stored."""
        return not self.failed and bool(self.stored)


class _LiteralWildcards(requests.Session):
    """Sends QIDO-RS wildcards as ``*``, not ``%2A``.

    dicomweb-client percent-encodes every query value; RFC 3986 allows a literal ``*`` in
    a query, and some servers (Orthanc 1.10) match only the literal form.
    """

    def request(self, method: str, url: Any, *args: Any, **kwargs: Any) -> requests.Response:
        if isinstance(url, str) and "?" in url:
            path, query = url.split("?", 1)
            url = path + "?" + query.replace("%2A", "*").replace("%2a", "*")
        return super().request(method, url, *args, **kwargs)


class PacsClient:
    """QIDO-RS search, WADO-RS retrieve and STOW-RS store against one endpoint."""

    def __init__(self, name: str, endpoint: PacsEndpoint) -> None:
        install_log_redaction()
        self.name, self.endpoint = name, endpoint
        session = _LiteralWildcards()
        session.verify = endpoint.verify_tls
        auth = endpoint.auth
        if auth.kind == "basic" and auth.username and auth.password:
            session.auth = HTTPBasicAuth(auth.username, auth.password.get_secret_value())
        elif auth.kind == "bearer" and auth.token:
            session.headers["Authorization"] = f"Bearer {auth.token.get_secret_value()}"
        self.session = session
        self._client = DICOMwebClient(
            endpoint.base_url,
            session=session,
            qido_url_prefix=endpoint.qido_prefix,
            wado_url_prefix=endpoint.wado_prefix,
            stow_url_prefix=endpoint.stow_prefix,
            timeout=(endpoint.connect_timeout_s, endpoint.timeout_s),
        )
        self._client.set_http_retry_params(
            retry=endpoint.retries > 0,
            max_attempts=endpoint.retries + 1,
            wait_exponential_multiplier=250,
        )

    def close(self) -> None:
        """Close the HTTP connections."""
        self.session.close()

    def __enter__(self) -> PacsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def search_studies(self, query: StudyQuery, max_results: int = 100) -> list[StudyHit]:
        """Studies matching `query` (QIDO-RS), at most `max_results`.

        DICOM matches descriptions case-sensitively and most PACS store them in capitals,
        so a description typed in lower case that finds nothing is tried in capitals.
        """
        items = self._search(query.search_filters(), min(query.limit, max_results))
        if not items and query.description and query.description != query.description.upper():
            upper = query.model_copy(update={"description": query.description.upper()})
            items = self._search(upper.search_filters(), min(query.limit, max_results))
        return [study_hit(item) for item in items]

    def _search(self, filters: dict[str, Any], limit: int) -> list[dict[str, Any]]:
        return self._call(
            "searching studies",
            lambda: self._client.search_for_studies(
                search_filters=filters, fields=list(_STUDY_FIELDS), limit=limit
            ),
        )

    def search_series(self, study_uid: str) -> list[SeriesHit]:
        """The series of one study (QIDO-RS), in series-number order."""
        study_uid = check_uid(study_uid, "study UID")
        items = self._call(
            "listing the series of a study",
            lambda: self._client.search_for_series(
                study_instance_uid=study_uid, fields=list(_SERIES_FIELDS)
            ),
        )
        hits = [series_hit(item, study_uid) for item in items]
        return sorted(hits, key=lambda h: (h.series_number is None, h.series_number or 0))

    def iter_series(self, study_uid: str, series_uid: str) -> Iterator[Dataset]:
        """The instances of one series (WADO-RS), streamed one dataset at a time."""
        study_uid = check_uid(study_uid, "study UID")
        series_uid = check_uid(series_uid, "series UID")
        what = "retrieving a series"
        stream = self._call(what, lambda: self._client.iter_series(study_uid, series_uid))
        while True:
            try:
                with captured_warnings():
                    ds = next(stream)
            except StopIteration:
                return
            except Exception as exc:  # noqa: BLE001  (every failure becomes a PacsError)
                raise self._failure(exc, what) from None
            yield ds

    def store(self, datasets: Sequence[Dataset]) -> StowResult:
        """Send `datasets` with STOW-RS; only if the endpoint opted in (`stow_enabled`)."""
        if not self.endpoint.stow_enabled:
            raise PacsStoreError(
                f"PACS {self.name!r} does not accept results: set stow_enabled: true for it in "
                f"configs/pacs.yaml (or MEDASSIST_PACS__ENDPOINTS__{self.name.upper()}"
                "__STOW_ENABLED=true) if this PACS should receive them"
            )
        if not datasets:
            raise PacsStoreError("nothing to send")
        answer = self._call("storing results", lambda: self._client.store_instances(datasets))
        stored = tuple(
            str(item.get("ReferencedSOPInstanceUID", ""))
            for item in answer.get("ReferencedSOPSequence", [])
        )
        failed = tuple(
            (str(item.get("ReferencedSOPInstanceUID", "")), _reason(item.get("FailureReason")))
            for item in answer.get("FailedSOPSequence", [])
        )
        if not stored and not failed:  # some servers answer 200 with an empty body
            stored = tuple(str(ds.SOPInstanceUID) for ds in datasets)
        return StowResult(self.name, stored, failed)

    def _call(self, what: str, func: Callable[[], T]) -> T:
        try:
            with captured_warnings():
                return func()
        except PacsError:
            raise
        except Exception as exc:  # noqa: BLE001  (every failure becomes a PacsError)
            raise self._failure(exc, what) from None

    def _failure(self, exc: BaseException, what: str) -> PacsError:
        """The PacsError for a failed request; the detail goes to the log, redacted."""
        where = f"PACS {self.name!r} ({self.endpoint.base_url})"
        log.warning("%s: %s failed: %s", where, what, redact(f"{type(exc).__name__}: {exc}"))
        status = _status(exc)
        if status in (401, 403):
            return PacsAuthError(
                f"{where} refused the credentials (HTTP {status}) while {what}: check auth in "
                f"configs/pacs.yaml or MEDASSIST_PACS__ENDPOINTS__{self.name.upper()}__AUTH__..."
            )
        if status == 404:
            return PacsNotFoundError(
                f"{where} answered 404 Not Found while {what}: the study or series is not on "
                "this PACS, or the endpoint's prefixes (qido/wado/stow) are wrong"
            )
        if status == 409 and what == "storing results":
            return PacsStoreError(f"{where} refused to store the results (HTTP 409)")
        if status is not None:
            return PacsError(f"{where} answered HTTP {status} while {what}; nothing was changed")
        if isinstance(exc, requests.Timeout):
            return PacsTimeoutError(
                f"{where} did not answer within {self.endpoint.timeout_s:g} s while {what}; "
                "try again later or raise timeout_s for this endpoint"
            )
        if isinstance(exc, requests.ConnectionError):
            return PacsUnavailableError(
                f"{where} is not reachable while {what} (connection refused, unknown host or "
                "TLS failure); check base_url and that the PACS is running"
            )
        return PacsError(f"{where} answered something unusable while {what} ({type(exc).__name__})")


def _status(exc: BaseException) -> int | None:
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return int(exc.response.status_code)
    attempt = getattr(exc, "last_attempt", None)  # retrying.RetryError after the last try
    value: Any = getattr(attempt, "value", None)
    if isinstance(value, requests.Response):
        return int(value.status_code)
    return None


def _reason(value: Any) -> str:
    codes = {0xA700: "out of resources", 0xA900: "does not match SOP class",
             0xC000: "cannot understand", 0x0110: "processing failure",
             0x0122: "SOP class not supported",
             0xA770: "referenced SOP instance not found"}  # fmt: skip
    try:
        code = int(value)
    except (TypeError, ValueError):
        return "unknown reason"
    return f"{codes.get(code, 'failure')} (0x{code:04X})"
