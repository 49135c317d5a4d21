"""Talking to a PACS over DICOMweb (QIDO-RS, WADO-RS, STOW-RS through `dicomweb-client`).

Endpoints come from configs/pacs.yaml; errors name the PACS and the step.

Search results identify patients: they are for the person who searched only. Retrieved
series become ordinary uploads (`write_series_zip`), de-identified like any other.
"""

from tools.pacs.bundle import write_series_zip
from tools.pacs.client import PacsClient, StowResult, check_uid
from tools.pacs.config import PacsAuth, PacsEndpoint, PacsSettings
from tools.pacs.errors import (
    PacsAuthError,
    PacsError,
    PacsNotFoundError,
    PacsStoreError,
    PacsTimeoutError,
    PacsUnavailableError,
)
from tools.pacs.hits import SeriesHit, StudyHit
from tools.pacs.query import StudyQuery

__all__ = [
    "PacsAuth",
    "PacsAuthError",
    "PacsClient",
    "PacsEndpoint",
    "PacsError",
    "PacsNotFoundError",
    "PacsSettings",
    "PacsStoreError",
    "PacsTimeoutError",
    "PacsUnavailableError",
    "SeriesHit",
    "StowResult",
    "StudyHit",
    "StudyQuery",
    "check_uid",
    "write_series_zip",
]
