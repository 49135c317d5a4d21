"""describe_image and view_dicom, alone and driven by the real agent graph.

The PHI tests search every tool result, every model request and every log record for
the fake patient's identifying values (`factory.PHI_VALUES`).
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_core.messages import HumanMessage, ToolMessage
from PIL import Image

from assistant.catalog import REGISTRY
from assistant.config import load_profile
from assistant.graph import build_graph
from assistant.state import AgentContext
from assistant.testing import ScriptedChatModel
from tests.tools.imaging.conftest import MakeDicom, tool_context
from tests.tools.imaging.factory import PHI_VALUES, ct_phantom
from tools.errors import ToolArgumentError, UnreadableImageError
from tools.imaging.deid import safe_display_name
from tools.imaging.describe import DescribeImageArgs, describe_image
from tools.imaging.view import ViewDicomArgs, view_dicom


def _assert_no_phi(text: str) -> None:
    leaked = [value for value in PHI_VALUES if value.lower() in text.lower()]
    assert not leaked, f"PHI leaked: {leaked}"


def test_describe_dicom(tmp_path: Path, ct_dicom: Path) -> None:
    result = describe_image(DescribeImageArgs(image_id="img1"), tool_context(tmp_path, ct_dicom))
    assert (result.format, result.modality, result.body_part) == ("DICOM", "CT", "CHEST")
    assert (result.width_px, result.height_px, result.frames) == (40, 48, 1)
    assert result.pixel_spacing_mm == (0.7, 0.7) and result.units == "HU"
    assert result.window == "from the file (C=40, W=400)"
    assert (result.stats[0].min, result.stats[0].max) == (-1000.0, 700.0)
    assert result.file_name.startswith("dicom-")
    assert result.header["StudyDate"] != "20240117" and result.header["Manufacturer"] == "Acme"
    _assert_no_phi(result.for_model())


def _png(path: Path) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(path.read_bytes())))


def test_view_dicom_presets_and_custom_window(tmp_path: Path, ct_dicom: Path) -> None:
    ctx = tool_context(tmp_path, ct_dicom)
    lung = view_dicom(ViewDicomArgs(image_id="img1", window="lung"), ctx)
    assert lung.window_used == "lung (C=-600, W=1500)"
    artifact = lung.artifacts[0]
    assert artifact.kind == "image" and artifact.media_type == "image/png"
    pixels = _png(ctx.session_dir / artifact.path)
    assert pixels.shape == (48, 40) and pixels[24, 20] > 200  # water is bright in lung window
    custom = view_dicom(ViewDicomArgs(image_id="img1", center=700, width=10), ctx)
    assert custom.window_used == "custom (C=700, W=10)"
    assert _png(ctx.session_dir / custom.artifacts[0].path)[24, 20] == 0
    _assert_no_phi(lung.for_model() + custom.for_model())


def test_view_dicom_frames(tmp_path: Path, make_dicom: MakeDicom) -> None:
    frames = np.stack([ct_phantom() + 300 * i for i in range(3)]).astype(np.int16)
    ctx = tool_context(tmp_path, make_dicom("mf.dcm", pixels=frames, frames=3))
    result = view_dicom(ViewDicomArgs(image_id="img1", frame=2, window="full"), ctx)
    assert (result.frame, result.frames) == (2, 3)
    with pytest.raises(ToolArgumentError, match=r"frame 4 does not exist .* valid frames are 1..3"):
        view_dicom(ViewDicomArgs(image_id="img1", frame=4), ctx)


def test_view_dicom_argument_errors(tmp_path: Path, make_dicom: MakeDicom) -> None:
    ctx = tool_context(tmp_path, make_dicom("mr.dcm", modality="MR", intercept=None))
    with pytest.raises(ToolArgumentError, match="both center and width"):
        view_dicom(ViewDicomArgs(image_id="img1", center=40), ctx)
    with pytest.raises(ToolArgumentError, match=r"'lung' is a CT preset .* MR"):
        view_dicom(ViewDicomArgs(image_id="img1", window="lung"), ctx)
    with pytest.raises(ToolArgumentError, match=r"invalid arguments.*window"):
        REGISTRY.get("view_dicom").parse_args({"image_id": "img1", "window": "liver"})


def test_view_dicom_on_png(tmp_path: Path, gradient_png: Path) -> None:
    ctx = tool_context(tmp_path, gradient_png, media_type="image/png")
    result = view_dicom(ViewDicomArgs(image_id="img1"), ctx)
    assert result.window_used.startswith("none") and result.modality is None
    shown = _png(ctx.session_dir / result.artifacts[0].path)
    np.testing.assert_array_equal(shown, _png(gradient_png))


async def test_agent_run_leaks_no_phi(
    tmp_path: Path, ct_dicom: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A vision model describes and views a DICOM full of PHI: nothing identifying escapes."""
    ctx = tool_context(tmp_path, ct_dicom)
    att = ctx.attachments["img1"]  # the session store names uploads with safe_display_name
    attachments = {"img1": replace(att, name=safe_display_name(att.name, att.media_type))}
    script = [
        '{"tool": "describe_image", "arguments": {"image_id": "img1"}}',
        '{"tool": "view_dicom", "arguments": {"image_id": "img1", "window": "lung"}}',
        '{"tool": "answer"}',
        "A CT slice of the chest.",
    ]
    model = ScriptedChatModel(script)
    agent = AgentContext(
        model=model,
        profile=load_profile("tiny-llava"),
        registry=REGISTRY,
        session_id="s1",
        session_dir=ctx.session_dir,
        attachments=attachments,
    )
    message = HumanMessage(content="What is this?", additional_kwargs={"attachments": ["img1"]})
    state: dict[str, Any] = {}
    with caplog.at_level(logging.DEBUG):
        async for chunk in build_graph().astream(
            {"messages": [message], "steps": 0}, context=agent, stream_mode="values"
        ):
            state = chunk
    results = [m for m in state["messages"] if isinstance(m, ToolMessage)]
    assert [m.name for m in results] == ["describe_image", "view_dicom"]
    assert all(m.status != "error" for m in results)
    assert json.loads(str(results[0].content))["modality"] == "CT"
    assert state["messages"][-1].content == "A CT slice of the chest."
    assert len(model.requests) == 4
    for request in model.requests:
        _assert_no_phi(json.dumps(request.messages))
    images = [p for r in model.requests for m in r.messages if isinstance(m["content"], list)
              for p in m["content"] if p["type"] == "image_url"]  # fmt: skip
    assert images, "the vision model should have been sent the rendered image"
    _assert_no_phi("\n".join(record.getMessage() for record in caplog.records))


def test_warnings_errors_and_logs_of_odd_files_carry_no_phi(
    tmp_path: Path, ct_dicom: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Invalid values, a missing file meta and a decode failure: messages and logs stay clean."""
    raw = ct_dicom.read_bytes()
    bad_uid = raw.replace(b"3680043.8.498.777123", b"3680043.8.498.Q77123")
    no_meta = bad_uid[bad_uid.index(b"\x08\x00", 132) :]  # drop preamble and file meta
    odd = tmp_path / "Quixote_Dulcinea_no_meta.dcm"
    odd.write_bytes(no_meta)
    truncated = tmp_path / "Quixote_Dulcinea_truncated.dcm"
    truncated.write_bytes(raw[:-50])
    ctx = tool_context(tmp_path, odd, truncated)
    with caplog.at_level(logging.DEBUG):
        result = describe_image(DescribeImageArgs(image_id="img1"), ctx)
        with pytest.raises(UnreadableImageError) as failure:
            view_dicom(ViewDicomArgs(image_id="img2"), ctx)
    assert any("no DICOM file meta" in note for note in result.notes)
    assert any(r.name == "pydicom" for r in caplog.records)  # the invalid UID was logged...
    _assert_no_phi(result.for_model())
    _assert_no_phi(str(failure.value))
    logs = "\n".join(r.getMessage() for r in caplog.records)
    _assert_no_phi(logs)
    assert "Q77123" not in logs  # ...without its value


def _sent_image(profile: str, tmp_path: Path, path: Path) -> np.ndarray:
    from assistant.messages import to_openai

    ctx = tool_context(tmp_path, path)
    message = HumanMessage(content="look", additional_kwargs={"attachments": ["img1"]})
    out = to_openai([message], load_profile(profile), ctx.attachments, tmp_path, "sys")
    url = out[1]["content"][1]["image_url"]["url"]
    import base64

    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))


def test_model_profile_ct_windows_rgb(tmp_path: Path, ct_dicom: Path) -> None:
    """MedGemma's profile gets CT as 3-window RGB; others get the file's window in gray."""
    medgemma = _sent_image("medgemma-4b-it", tmp_path, ct_dicom)
    qwen = _sent_image("qwen2.5-vl-7b-instruct", tmp_path, ct_dicom)
    assert medgemma.ndim == 3 and medgemma.shape[2] == 3 and qwen.ndim == 2
    water = medgemma[24, 20]  # 0 HU: mid-grey in the wide window, black in the others
    assert 120 < water[0] < 135 and water[1] == 0 and water[2] == 0
