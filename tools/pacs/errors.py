"""Errors of talking to a PACS; messages name the endpoint and the step, never patient data.

::

    MedAssistError
    └── PacsError                  a DICOMweb request failed (shown to the person)
        ├── PacsUnavailableError   refused connection, DNS failure, TLS failure
        ├── PacsTimeoutError       no answer within the endpoint's timeout
        ├── PacsAuthError          401/403: the credentials were refused
        ├── PacsNotFoundError      404: no such study, series or service path
        └── PacsStoreError         STOW-RS refused some or all instances, or is not enabled
"""

from __future__ import annotations

from tools.errors import MedAssistError

__all__ = [
    "PacsAuthError",
    "PacsError",
    "PacsNotFoundError",
    "PacsStoreError",
    "PacsTimeoutError",
    "PacsUnavailableError",
]


class PacsError(MedAssistError):
    """A request to a PACS failed; nothing was changed in the session."""


class PacsUnavailableError(PacsError):
    """The PACS cannot be reached."""


class PacsTimeoutError(PacsError):
    """The PACS did not answer in time."""


class PacsAuthError(PacsError):
    """The PACS refused the credentials (HTTP 401 or 403)."""


class PacsNotFoundError(PacsError):
    """The PACS has no such resource (HTTP 404)."""


class PacsStoreError(PacsError):
    """Storing results on the PACS failed or is not allowed for this endpoint."""
