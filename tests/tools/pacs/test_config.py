"""PACS endpoints are validated at start-up, with errors that name the bad value."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from assistant.config import load_config
from tools.errors import ConfigError
from tools.pacs import PacsAuth, PacsEndpoint, PacsSettings


def test_endpoints_from_the_environment() -> None:
    env = {
        "MEDASSIST_PACS__ENDPOINTS__HOSPITAL__BASE_URL": "https://pacs.example.org:8443/",
        "MEDASSIST_PACS__ENDPOINTS__HOSPITAL__QIDO_PREFIX": "/dicom-web/",
        "MEDASSIST_PACS__ENDPOINTS__HOSPITAL__AUTH__KIND": "bearer",
        "MEDASSIST_PACS__ENDPOINTS__HOSPITAL__AUTH__TOKEN": "s3cret-token",
        "MEDASSIST_PACS__ENDPOINTS__HOSPITAL__STOW_ENABLED": "true",
        "MEDASSIST_PACS__DEFAULT": "hospital",
    }
    pacs = load_config(environ=env).pacs
    endpoint = pacs.endpoints["hospital"]
    assert endpoint.base_url == "https://pacs.example.org:8443"
    assert endpoint.qido_prefix == "dicom-web" and endpoint.stow_enabled
    assert endpoint.auth.token is not None
    assert endpoint.auth.token.get_secret_value() == "s3cret-token"
    assert "s3cret-token" not in repr(pacs)  # secrets never printed
    assert pacs.default == "hospital"
    assert load_config(environ={}).pacs.endpoints == {}  # configs/pacs.yaml lists none


def test_stow_is_off_by_default() -> None:
    assert PacsEndpoint(base_url="http://127.0.0.1:8042").stow_enabled is False


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"base_url": "ftp://pacs"}, "must be an http:// or https:// URL"),
        ({"base_url": "http://u:p@pacs/"}, "must not carry a query, a fragment or credentials"),
        ({"base_url": "http://pacs", "qido_prefix": "a b"}, "must be a URL path"),
        ({"base_url": "http://pacs", "auth": {"kind": "basic", "username": "u"}},
         "needs auth.password"),
        ({"base_url": "http://pacs", "auth": {"kind": "none", "token": "t"}},
         "takes no auth.token"),
        ({"base_url": "http://pacs", "auth": {"kind": "kerberos"}}, "auth.kind"),
        ({"base_url": "http://pacs", "timeout_s": 0}, "timeout_s"),
    ],
)  # fmt: skip
def test_bad_endpoints(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        PacsEndpoint.model_validate(data)


def test_names_and_default() -> None:
    endpoint = PacsEndpoint(base_url="http://pacs")
    with pytest.raises(ValidationError, match="must be lower case letters"):
        PacsSettings(endpoints={"Hospital-PACS": endpoint})
    with pytest.raises(ValidationError, match="default 'other' is not an endpoint; endpoints: a"):
        PacsSettings(endpoints={"a": endpoint}, default="other")
    with pytest.raises(ConfigError, match="invalid configuration"):
        load_config(environ={"MEDASSIST_PACS__ENDPOINTS__X__BASE_URL": "pacs.example.org"})
    assert PacsAuth(kind="basic", username="u", password="p").password is not None
