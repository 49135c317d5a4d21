"""Shared fixtures: tiny generated images, a session folder, a scripted agent context."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tools.attachments import Attachment
from tools.intake import inspect_stored

pytest_plugins = [
    "tests.vllm_servers",
    "tests.faults.fixture",
    "tests.tools.pacs.orthanc",
    "tests.postgres_server",
]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep MEDASSIST_* variables of the developer's shell out of tests."""
    import os

    for key in list(os.environ):
        if key.startswith("MEDASSIST_"):
            monkeypatch.delenv(key)


def make_attachment(path: Path, image_id: str = "img1") -> Attachment:
    """An Attachment for a file on disk, its kind and facts read as at upload."""
    data = path.read_bytes()
    seen = inspect_stored(path, "image/png")
    return Attachment(
        id=image_id,
        path=path,
        name=path.name,
        media_type="image/png",
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        kind=seen.kind,
        facts=seen.facts,
    )


@pytest.fixture
def gradient_png(tmp_path: Path) -> Path:
    """A 64×48 8-bit grayscale horizontal gradient (values 0..252 step 4)."""
    row = (np.arange(64) * 4).astype(np.uint8)
    path = tmp_path / "gradient.png"
    Image.fromarray(np.tile(row, (48, 1))).save(path)
    return path
