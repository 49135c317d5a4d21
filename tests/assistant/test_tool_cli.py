"""`medassist tool`: one tool on an image, defaults from the image's kind, through the façade."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_core.messages import AnyMessage, ToolMessage
from PIL import Image

from assistant.cli import main
from assistant.config import load_config
from assistant.service import Assistant
from assistant.tool_cli import parse_settings
from tests.tools.segmentation import synthetic
from tools.errors import InputError


@pytest.fixture
def he_png(tmp_path: Path) -> Path:
    path = tmp_path / "he.png"
    Image.fromarray(synthetic.he_tile(synthetic.nuclei_mask())).save(path)
    return path


@pytest.fixture
def cxr_png(tmp_path: Path) -> Path:
    path = tmp_path / "chest.png"
    Image.fromarray(synthetic.chest_xray()[0]).save(path)
    return path


def _tool(data: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    code = main(["tool", *argv, "--data-dir", str(data)])
    out = capsys.readouterr()
    return code, json.loads(out.out) if out.out.strip() else None, out.err


def _history(data: Path, session: str) -> list[AnyMessage]:
    async def read() -> list[AnyMessage]:
        async with Assistant(load_config({"data_dir": str(data)})) as assistant:
            return await assistant.history(session)

    return asyncio.run(read())


def test_segment_on_he_counts_nuclei_and_joins_the_session(
    tmp_path: Path, he_png: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    code, out, _ = _tool(data, capsys, "segment", "--image", str(he_png))
    assert code == 0 and out["status"] == "success"
    assert out["image_class"] == "stained_tissue"
    assert out["arguments"] == {"image_id": "img1", "target": "nuclei_he"}
    assert out["result"]["count"] == len(synthetic.NUCLEUS_CENTRES)
    assert out["artifacts"] and all(Path(p).is_file() for p in out["artifacts"])
    steps = [m for m in _history(data, out["session"]) if isinstance(m, ToolMessage)]
    assert [m.name for m in steps] == ["segment"]
    assert json.loads(str(steps[0].content))["count"] == out["result"]["count"]

    # Same session, same file: the same attachment; a second step is added.
    code, again, _ = _tool(data, capsys, "describe_image", "--image", str(he_png),
                           "--session", out["session"])  # fmt: skip
    assert code == 0 and again["image_id"] == "img1" and again["result"]["width_px"] == 140
    steps = [m for m in _history(data, out["session"]) if isinstance(m, ToolMessage)]
    assert [m.name for m in steps] == ["segment", "describe_image"]


def test_segment_on_a_chest_xray_outlines_the_lungs(
    tmp_path: Path, cxr_png: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _tool(tmp_path / "d", capsys, "segment", "--image", str(cxr_png))
    assert code == 0 and out["arguments"]["target"] == "lung_fields"
    names = sorted(s["name"] for s in out["result"]["structures"])
    assert names == ["left lung", "right lung"]


def test_schema_is_narrowed_for_the_image(
    tmp_path: Path, cxr_png: Path, he_png: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, schema, _ = _tool(tmp_path / "d", capsys, "segment", "--image", str(cxr_png), "--schema")
    assert code == 0
    assert schema["properties"]["target"]["enum"] == ["lung_fields"]
    assert "box" not in schema["properties"] and "nuclei" not in json.dumps(schema)
    box = '{"x": 10, "y": 10, "width": 50, "height": 60}'
    _, drawn, _ = _tool(tmp_path / "d", capsys, "segment", "--image", str(cxr_png), "--schema",
                        "--set", f"box={box}")  # fmt: skip
    assert drawn["properties"]["box"]["const"] == json.loads(box)
    assert drawn["properties"]["target"]["enum"] == ["lung_fields", "prompted"]
    _, he, _ = _tool(tmp_path / "d", capsys, "segment", "--image", str(he_png), "--schema")
    assert he["properties"]["target"]["enum"] == ["nuclei_he", "tissue"]


def test_arguments_the_image_rules_out_are_refused(
    tmp_path: Path, cxr_png: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "d"
    code, out, err = _tool(data, capsys, "segment", "--image", str(cxr_png),
                           "--set", "target=nuclei_he")  # fmt: skip
    assert code == 2 and out is None
    assert 'target="nuclei_he" does not fit img1' in err and '"lung_fields"' in err
    code, _, err = _tool(data, capsys, "slide_overview", "--image", str(cxr_png))
    assert code == 2 and "slide_overview does not apply to img1" in err
    code, _, err = _tool(data, capsys, "segment", "--image", str(cxr_png), "--set", "k=3")
    assert code == 2 and "argument 'k' does not apply" in err


def test_the_person_can_correct_the_class(
    tmp_path: Path, cxr_png: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _tool(tmp_path / "d", capsys, "segment", "--image", str(cxr_png),
                         "--class", "fluorescence")  # fmt: skip
    assert code == 0 and out["image_class"] == "fluorescence"
    assert out["arguments"]["target"] == "nuclei_fluorescence"


def test_frames_count_from_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "gray.png"
    Image.fromarray(np.full((40, 40), 128, np.uint8)).save(path)
    code, out, _ = _tool(tmp_path / "d", capsys, "view_dicom", "--image", str(path),
                         "--set", "window=full")  # fmt: skip
    assert code == 0 and out["result"]["frame"] == 1 and out["result"]["frames"] == 1
    code, _, err = _tool(tmp_path / "d", capsys, "view_dicom", "--image", str(path),
                         "--set", "frame=2")  # fmt: skip
    assert code == 2 and "argument 'frame' does not apply" in err


def test_a_failing_tool_prints_its_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dicom = synthetic.write_dicom(tmp_path / "cr.dcm", synthetic.chest_xray()[0], (0.5, 0.5))
    code, out, _ = _tool(tmp_path / "d", capsys, "view_dicom", "--image", str(dicom),
                         "--set", "center=40")  # fmt: skip
    assert code == 1 and out["status"] == "error" and out["result"] is None
    assert "give both center and width" in out["error"]
    code, out, _ = _tool(tmp_path / "d", capsys, "segment", "--image", str(dicom))
    assert code == 0 and out["image_class"] == "radiograph"  # by its header (CR)
    assert out["result"]["total_area"]["unit"] == "mm²"


def test_parse_settings() -> None:
    assert parse_settings(["target=tissue", "k=3", 'box={"x": 1}', "text=a=b"]) == {
        "target": "tissue", "k": 3, "box": {"x": 1}, "text": "a=b"}  # fmt: skip
    with pytest.raises(InputError, match="key=value"):
        parse_settings(["oops"])
