"""PACS endpoints, read from ``configs/pacs.yaml`` and validated at start-up.

Endpoints are keyed by name (lower case letters, digits and ``_``) so that every field
can be overridden from the environment, secrets included, e.g.
``MEDASSIST_PACS__ENDPOINTS__HOSPITAL__AUTH__PASSWORD``. Writing back (STOW-RS) is off
unless an endpoint opts in with ``stow_enabled: true``.
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from tools.settings import Strict

__all__ = ["PacsAuth", "PacsEndpoint", "PacsSettings"]

AuthKind = Literal["none", "basic", "bearer"]
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_PREFIX = re.compile(r"^[A-Za-z0-9._~\-]+(/[A-Za-z0-9._~\-]+)*$")


class PacsAuth(Strict):
    """How to authenticate: HTTP basic (username, password), a bearer token, or nothing."""

    kind: AuthKind = "none"
    username: str | None = None
    password: SecretStr | None = None
    token: SecretStr | None = None

    @model_validator(mode="after")
    def _fields_match_kind(self) -> PacsAuth:
        given = {
            name
            for name in ("username", "password", "token")
            if getattr(self, name) not in (None, "")
        }
        needed = {"none": set(), "basic": {"username", "password"}, "bearer": {"token"}}[self.kind]
        if needed - given:
            missing = ", ".join(f"auth.{n}" for n in sorted(needed - given))
            raise ValueError(f"auth.kind={self.kind!r} needs {missing}")
        if given - needed:
            extra = ", ".join(f"auth.{n}" for n in sorted(given - needed))
            raise ValueError(f"auth.kind={self.kind!r} takes no {extra} (basic, bearer or none)")
        return self


class PacsEndpoint(Strict):
    """One DICOMweb service: where it is, its QIDO/WADO/STOW prefixes, how to log in."""

    base_url: str = Field(description="scheme, host, port and path up to the prefixes")
    description: str = ""
    qido_prefix: str | None = Field(None, description="e.g. 'dicom-web' (None: no prefix)")
    wado_prefix: str | None = None
    stow_prefix: str | None = None
    auth: PacsAuth = PacsAuth()
    stow_enabled: bool = Field(False, description="may results be sent back (STOW-RS)?")
    timeout_s: float = Field(30.0, gt=0, le=3600, description="per request")
    connect_timeout_s: float = Field(5.0, gt=0, le=600)
    retries: int = Field(1, ge=0, le=5, description="extra tries after a refusal or 429/503")
    verify_tls: bool = True

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url {value!r} must be an http:// or https:// URL with a host")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError(
                f"base_url {parts.scheme}://{parts.hostname}... must not carry a query, a "
                "fragment or credentials (put credentials under auth)"
            )
        return value.rstrip("/")

    @field_validator("qido_prefix", "wado_prefix", "stow_prefix")
    @classmethod
    def _prefix(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip("/")
        if not _PREFIX.match(value):
            raise ValueError(f"prefix {value!r} must be a URL path such as 'dicom-web' or 'rs'")
        return value


class PacsSettings(Strict):
    """Every configured PACS; `default` is used when a command names none."""

    endpoints: dict[str, PacsEndpoint] = Field(default_factory=dict)
    default: str | None = None
    max_results: int = Field(100, ge=1, le=10_000, description="QIDO-RS results per search")

    @field_validator("endpoints")
    @classmethod
    def _names(cls, value: dict[str, PacsEndpoint]) -> dict[str, PacsEndpoint]:
        for name in value:
            if not _NAME.match(name):
                raise ValueError(
                    f"endpoint name {name!r} must be lower case letters, digits and '_' "
                    "(starting with a letter), so MEDASSIST_PACS__ENDPOINTS__<NAME>__... works"
                )
        return value

    @model_validator(mode="after")
    def _default_exists(self) -> PacsSettings:
        if self.default is not None and self.default not in self.endpoints:
            known = ", ".join(self.endpoints) or "none"
            raise ValueError(f"default {self.default!r} is not an endpoint; endpoints: {known}")
        return self
