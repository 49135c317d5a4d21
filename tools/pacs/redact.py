"""Keep request details out of the logs: DICOMweb URLs carry patient IDs and real UIDs.

dicomweb-client logs each request URL with its query (``PatientID=...``) and the study
UIDs it searches; urllib3 logs every URL at debug level; highdicom logs the UIDs of
the datasets it derives from. `install_log_redaction` adds a
filter to exactly those loggers that rewrites a record before any handler sees it:
query strings and dotted UIDs are replaced by placeholders.
"""

from __future__ import annotations

import logging
import re

__all__ = ["REDACTED_LOGGERS", "install_log_redaction", "redact"]

REDACTED_LOGGERS = ("dicomweb_client", "urllib3", "highdicom")
"""Logger families redacted (each logger of the family: filters do not inherit)."""
_QUERY = re.compile(r"\?[^\s\"']*")
_UID = re.compile(r"\b\d+(?:\.\d+){3,}\b")
_PATH_UIDS = re.compile(r"/(studies|series|instances)/[^/\s\"'?]+")


def redact(text: str) -> str:
    """`text` without URL queries, path UIDs or anything shaped like a DICOM UID."""
    text = _QUERY.sub("?<query>", text)
    text = _PATH_UIDS.sub(lambda m: f"/{m.group(1)}/<uid>", text)
    return _UID.sub("<uid>", text)


class _RedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg, record.args = redact(message), ()
        return True


_FILTER = _RedactFilter()


def install_log_redaction() -> None:
    """Add the redacting filter to every logger of the families (safe to call again).

    Call it after the libraries are imported: a filter only sees records logged to its
    own logger, so each module logger of the family gets one.
    """
    known = list(logging.root.manager.loggerDict)
    for name in [*REDACTED_LOGGERS, *known]:
        if name.split(".")[0] not in REDACTED_LOGGERS:
            continue
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
