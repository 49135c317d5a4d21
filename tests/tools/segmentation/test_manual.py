"""The `measure` tool: lengths and areas from the file's spacing, values inside in HU."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydicom.uid import ExplicitVRLittleEndian

from tests.tools.imaging.conftest import MakeDicom, ct_dicom, make_dicom, tool_context
from tests.tools.imaging.factory import ct_phantom, make_dataset, write
from tools.errors import ToolArgumentError
from tools.registry import ToolContext
from tools.segmentation.manual import MeasureArgs, measure

__all__ = ["ct_dicom", "make_dicom"]  # fixtures of the imaging tests, used here too


def _run(ctx: ToolContext, **args: Any) -> dict[str, Any]:
    result = measure(MeasureArgs.model_validate({"image_id": "img1", **args}), ctx)
    return result.model_dump(mode="json", exclude_none=True)


def test_line_uses_row_and_column_spacing(tmp_path: Path, make_dicom: MakeDicom) -> None:
    ctx = tool_context(tmp_path, make_dicom(spacing=(0.5, 0.8)))
    across = _run(ctx, shape="line", points=[[2, 10], [32, 10]])
    down = _run(ctx, shape="line", points=[[5, 2], [5, 42]])
    diagonal = _run(ctx, shape="line", points=[[0, 0], [30, 40]])
    assert across["length"] == {"value": 24.0, "unit": "mm"}  # 30 columns × 0.8 mm
    assert down["length"] == {"value": 20.0, "unit": "mm"}  # 40 rows × 0.5 mm
    assert diagonal["length"]["value"] == pytest.approx(math.hypot(24, 20), abs=1e-3)
    assert "PixelSpacing 0.5 × 0.8 mm" in str(across["calibration"]) and not across["notes"]


def test_ellipse_area_and_hounsfield_values(tmp_path: Path, make_dicom: MakeDicom) -> None:
    ctx = tool_context(tmp_path, make_dicom(spacing=(0.7, 0.7)))
    # Inside the water disc of the phantom (48×40, centre (20, 24), radius 16): 0 HU.
    water = _run(ctx, shape="ellipse", points=[[20, 20], [30, 28]])  # clear of the bone
    assert water["area"]["unit"] == "mm²"
    assert water["area"]["value"] == pytest.approx(math.pi * 5 * 0.7 * 4 * 0.7, rel=1e-3)
    assert water["values"]["mean"] == 0 and water["values"]["units"] == "HU"
    assert 50 < water["values"]["pixels"] < 80  # ≈ π·5·4 pixel centres
    # A polygon over air and water: min -1000, max 0.
    mixed = _run(ctx, shape="polygon", points=[[0, 0], [20, 0], [20, 16], [0, 16]])
    assert (mixed["values"]["min"], mixed["values"]["max"]) == (-1000.0, 0.0)
    assert mixed["area"]["value"] == pytest.approx(20 * 16 * 0.49, rel=1e-3)
    assert mixed["perimeter"]["value"] == pytest.approx(2 * (20 + 16) * 0.7, rel=1e-3)


def test_without_spacing_sizes_are_pixels(tmp_path: Path, gradient_png: Path) -> None:
    ctx = tool_context(tmp_path, gradient_png, media_type="image/png")
    result = _run(ctx, shape="line", points=[[0, 0], [3, 4]])
    assert result["length"] == {"value": 5.0, "unit": "px"}
    assert any("uncalibrated" in n for n in result["notes"])
    area = _run(ctx, shape="ellipse", points=[[10, 10], [30, 30]])
    assert area["area"]["unit"] == "px²" and "units" not in area["values"]


def test_imager_pixel_spacing_carries_its_caveat(tmp_path: Path) -> None:
    ds = make_dataset(ct_phantom(), modality="DX", spacing=None, intercept=None)
    ds.ImagerPixelSpacing = [0.2, 0.2]
    ds.EstimatedRadiographicMagnificationFactor = 1.25
    ctx = tool_context(tmp_path, write(ds, tmp_path / "dx.dcm", ExplicitVRLittleEndian))
    result = _run(ctx, shape="line", points=[[0, 0], [10, 0]])
    assert result["length"] == {"value": 1.6, "unit": "mm"}  # 10 × 0.2 / 1.25
    assert "ImagerPixelSpacing" in str(result["calibration"])
    assert any("approximate" in n for n in result["notes"])


def test_bad_shapes_are_refused_in_plain_words(tmp_path: Path, ct_dicom: Path) -> None:
    ctx = tool_context(tmp_path, ct_dicom)
    with pytest.raises(ToolArgumentError, match="outside img1"):
        _run(ctx, shape="line", points=[[0, 0], [100, 0]])
    with pytest.raises(ValueError, match="a line needs 2 points"):
        MeasureArgs.model_validate(
            {"image_id": "img1", "shape": "line", "points": [[0, 0], [1, 1], [2, 2]]}
        )
    with pytest.raises(ValueError, match="at least 3"):
        MeasureArgs.model_validate(
            {"image_id": "img1", "shape": "polygon", "points": [[0, 0], [1, 1]]}
        )
    assert np.isfinite(_run(ctx, shape="ellipse", points=[[3, 3], [3.2, 3.2]])["area"]["value"])
