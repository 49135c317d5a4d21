"""Typed settings shared by every layer: the strict base, YAML reading, environment overrides.

Each package declares its own settings models (uploads and privacy here, segmentation in
`tools.segmentation.config`, slides in `tools.slides.config`, retrieval in
`retrieval.config`); `assistant.config` assembles them into one `AppConfig`, validated at
start-up, with the same ``MEDASSIST_<SECTION>__<FIELD>`` overrides for every section.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tools.errors import ConfigError

__all__ = [
    "ENV_PREFIX",
    "MIN_SECRET_CHARS",
    "REPO_ROOT",
    "PrivacySettings",
    "Strict",
    "UploadSettings",
    "config_dir",
    "read_settings",
    "read_yaml",
]

M = TypeVar("M", bound=BaseModel)

REPO_ROOT = Path(__file__).resolve().parent.parent
ENV_PREFIX = "MEDASSIST_"


class Strict(BaseModel):
    """Base of every settings model: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class UploadSettings(Strict):
    """Limits applied before an upload is stored."""

    max_bytes: int = Field(512 * 1024 * 1024, ge=1)
    max_slide_bytes: int = Field(
        8 * 1024**3, ge=1, description="tiled whole-slide files (SVS, tiled TIFF, DICOM-WSI)"
    )
    max_pixels: int = Field(400_000_000, ge=1)
    max_frames: int = Field(2000, ge=1)
    max_archive_members: int = Field(5000, ge=1, description="files in one ZIP of a series")
    max_unpacked_bytes: int = Field(2 * 1024**3, ge=1, description="a ZIP's unpacked size")


MIN_SECRET_CHARS = 16
"""Shortest accepted de-identification secret: a short one can be guessed, then every
pseudonym, UID remap and date shift of an export recomputed from its session id."""


class PrivacySettings(Strict):
    """De-identification. Nothing leaves the machine unless a remote LLM URL is configured.

    `deid_secret` unset (null, the default) means: a random secret generated on first run
    and kept in the data directory (mode 0600, see `assistant.deid_secret`). Set it only to
    share one secret between deployments; an empty or short value is refused at start-up,
    since it would let anyone with an export recompute the date shift and test guesses.
    """

    deid_secret: str | None = Field(
        None, description="salt for pseudonyms, UID remaps and date shifts; null: generated"
    )
    keep_upload_names: bool = Field(
        False, description="True: non-DICOM and slide names keep their (cleaned) stem"
    )

    @field_validator("deid_secret")
    @classmethod
    def _not_guessable(cls, value: str | None) -> str | None:
        if value is not None and len(value.strip()) < MIN_SECRET_CHARS:
            shown = "empty" if not value.strip() else f"{len(value.strip())} characters"
            raise ValueError(
                f"privacy.deid_secret is {shown}; it needs at least {MIN_SECRET_CHARS} "
                "random characters, or leave it unset (null) to have one generated under "
                "the data directory"
            )
        return value


def config_dir() -> Path:
    """Folder holding app.yaml, the section files and models/*.yaml."""
    return Path(os.environ.get(f"{ENV_PREFIX}CONFIG_DIR", REPO_ROOT / "configs"))


def read_yaml(path: Path) -> dict[str, Any]:
    """The mapping in a YAML file; ConfigError when it cannot be read or is not a mapping."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping, not {type(data).__name__}")
    return data


def read_settings(path: Path, model: type[M], what: str, **extra: Any) -> M:
    """Validate the YAML file at `path` (plus `extra` fields) as `model`; ConfigError if not."""
    try:
        return model.model_validate({**extra, **read_yaml(path)})
    except ValidationError as exc:
        raise ConfigError(f"invalid {what} {path}:\n{exc}") from exc
