"""Fixtures of the ingestion tests: generated DICOMs and tool contexts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydicom.uid import UID, ExplicitVRLittleEndian

from tests.conftest import make_attachment
from tests.tools.imaging.factory import ct_phantom, make_dataset, write
from tools.registry import ToolContext

MakeDicom = Callable[..., Path]


@pytest.fixture
def make_dicom(tmp_path: Path) -> MakeDicom:
    """Write a DICOM: ``make_dicom(name, syntax=..., pixels=..., **make_dataset options)``."""

    def make(
        name: str = "ct.dcm",
        syntax: UID = ExplicitVRLittleEndian,
        pixels: np.ndarray | None = None,
        **options: Any,
    ) -> Path:
        ds = make_dataset(ct_phantom() if pixels is None else pixels, **options)
        return write(ds, tmp_path / name, syntax)

    return make


@pytest.fixture
def ct_dicom(make_dicom: MakeDicom) -> Path:
    """A 48×40 CT slice (air, water disc, bone disc) with fake PHI in its header."""
    return make_dicom("Quixote_Dulcinea_ct.dcm")


def tool_context(
    tmp_path: Path, *paths: Path, media_type: str = "application/dicom"
) -> ToolContext:
    """A ToolContext whose attachments img1, img2, ... are `paths`."""
    attachments = {}
    for i, path in enumerate(paths, start=1):
        att = make_attachment(path, f"img{i}")
        attachments[att.id] = replace(att, media_type=media_type)
    return ToolContext(session_id="s1", session_dir=tmp_path / "session", attachments=attachments)
