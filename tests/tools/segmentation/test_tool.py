"""The registered `segment` tool: units from spacing/mpp, files, errors, and the agent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_core.messages import HumanMessage, ToolMessage
from PIL import Image

from assistant.catalog import REGISTRY
from assistant.config import load_profile
from assistant.events import ToolFinished
from assistant.graph import build_graph
from assistant.messages import ARTIFACTS_KEY
from assistant.state import AgentContext
from assistant.testing import ScriptedChatModel
from tests.conftest import make_attachment
from tests.tools.segmentation.synthetic import (
    NUCLEUS_CENTRES,
    chest_xray,
    fluorescence,
    nuclei_mask,
    write_dicom,
)
from tools.errors import ToolArgumentError, ToolError
from tools.geometry import Box
from tools.registry import ToolContext
from tools.segmentation.config import SegmentationConfig
from tools.segmentation.outputs import rle_decode
from tools.segmentation.schema import SegmentArgs
from tools.segmentation.tool import segment


def _read(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img)


def _ctx(tmp_path: Path, path: Path) -> ToolContext:
    return ToolContext("s1", tmp_path / "session", {"img1": make_attachment(path)})


def _png(tmp_path: Path, pixels: np.ndarray, name: str = "img.png") -> Path:
    path = tmp_path / name
    Image.fromarray(pixels).save(path)
    return path


def _square_png(tmp_path: Path) -> Path:
    img = np.full((100, 120), 30, np.uint8)
    img[30:60, 40:80] = 200  # 1200 px
    return _png(tmp_path, img)


def _args(**kw: Any) -> SegmentArgs:
    box = kw.pop("box", None)
    if isinstance(box, list):  # written as corners here: the tool takes {x, y, width, height}
        kw["box"] = Box.from_corners(*box).model_dump()
    return SegmentArgs.model_validate({"image_id": "img1", **kw})


def test_dicom_spacing_gives_square_millimetres(tmp_path: Path) -> None:
    img = np.full((100, 120), 30, np.uint8)
    img[30:60, 40:80] = 200
    dcm = write_dicom(tmp_path / "cr.dcm", img, (0.5, 0.25))
    ctx = _ctx(tmp_path, dcm)
    result = segment(_args(target="prompted", box=[35, 25, 85, 65]), ctx)
    (s,) = result.structures
    # 1200 px; smoothing before the threshold rounds off the square's 4 corner pixels.
    assert 1196 <= s.area_px <= 1200 and s.area.unit == "mm²"
    assert s.area.value == s.area_px * 0.5 * 0.25
    assert result.total_area.model_dump() == {"value": s.area.value, "unit": "mm²"}
    assert s.bbox.corners == (40, 30, 80, 60) and s.centroid == (59.5, 44.5)
    assert "0.5×0.25 mm" in result.scale
    # Files: overlay shown as an image, lossless mask, RLE that decodes to the same mask.
    kinds = {a.kind: a for a in result.artifacts}
    assert set(kinds) == {"image", "mask", "file"}
    root = ctx.session_dir
    with Image.open(root / kinds["image"].path) as overlay:
        assert overlay.size == (120, 100) and overlay.mode == "RGB"
    assert f"selected object: {s.area.value:g} mm²" in kinds["image"].caption
    mask = _read(root / result.mask_png)
    assert int(mask.sum()) == s.area_px and mask[45, 60] == 1
    doc = json.loads((root / result.mask_rle).read_text())
    assert np.array_equal(rle_decode(doc["structures"][0]["counts"], (100, 120)), mask == 1)
    assert json.loads(result.for_model())["overlay_png"] == kinds["image"].path


def test_monochrome1_is_inverted_before_segmenting(tmp_path: Path) -> None:
    img, truth = chest_xray()
    dcm = write_dicom(tmp_path / "m1.dcm", 255 - img, (0.4, 0.4), photometric="MONOCHROME1")
    result = segment(_args(target="lung_fields"), _ctx(tmp_path, dcm))
    assert result.count == 2 and result.total_area.unit == "mm²"
    assert any("MONOCHROME1" in n for n in result.notes)
    total_px = sum(s.area_px for s in result.structures)
    assert int((truth > 0).sum()) <= total_px < 1.3 * int((truth > 0).sum())


def test_microns_per_pixel_and_counts(tmp_path: Path) -> None:
    truth = nuclei_mask()
    ctx = _ctx(tmp_path, _png(tmp_path, fluorescence(truth)))
    result = segment(_args(target="nuclei_fluorescence", microns_per_pixel=0.25), ctx)
    assert result.count == len(NUCLEUS_CENTRES)
    assert result.total_area.unit == "µm²" and result.mean_area is not None
    assert result.mean_area.unit == "µm²"
    total_px = sum(s.area_px for s in result.structures)
    assert result.total_area.value == pytest.approx(total_px * 0.0625, rel=1e-3)
    assert result.structures[0].name.startswith("nucleus ")
    assert "6 nuclei, total" in result.artifacts[0].caption


def test_pixels_without_scale_and_listing_cap(tmp_path: Path) -> None:
    config = SegmentationConfig(max_listed=4, max_pixels=20_000)
    ctx = _ctx(tmp_path, _png(tmp_path, fluorescence(nuclei_mask())))
    ctx.deps = [config]
    result = segment(_args(target="nuclei_fluorescence"), ctx)
    assert result.total_area.unit == "px" and result.scale.startswith("no physical scale")
    assert len(result.structures) == 4 and result.structures_not_listed == 2
    areas = [s.area_px for s in result.structures]
    assert areas == sorted(areas, reverse=True)
    big = _ctx(tmp_path, _png(tmp_path, np.zeros((150, 150), np.uint8), "big.png"))
    big.deps = [config]
    with pytest.raises(ToolError, match="150×150 px is over segment's 20,000 px limit"):
        segment(_args(target="tissue"), big)


def test_box_restricts_region_for_other_targets(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, _png(tmp_path, fluorescence(nuclei_mask())))
    result = segment(_args(target="nuclei_fluorescence", box=[0, 0, 50, 50], points=[[3, 3]]), ctx)
    assert result.count == 1 and result.region.corners == (0, 0, 50, 50)
    assert result.structures[0].centroid == (20.0, 20.0)
    assert any("analysed only the box" in n for n in result.notes)
    assert any("points are ignored" in n for n in result.notes)


def test_lung_fields_result(tmp_path: Path) -> None:
    img, _ = chest_xray()
    result = segment(_args(target="lung_fields"), _ctx(tmp_path, _png(tmp_path, img)))
    assert [s.name for s in sorted(result.structures, key=lambda s: s.label)] == [
        "right lung",
        "left lung",
    ]
    assert any("radiological convention" in n for n in result.notes)


@pytest.mark.parametrize(
    ("kw", "message"),
    [({"target": "prompted"}, "needs a prompt"),
     ({"target": "prompted", "points": [[500, 5]]}, r"point \[500, 5\] is outside the image"),
     ({"target": "tissue", "box": [130, 10, 150, 30]}, "lies outside the 120×100 image"),
     ({"target": "prompted", "box": [5, 5, 20, 20], "backend": "sam"}, "set sam.path")],
)  # fmt: skip
def test_errors(tmp_path: Path, kw: dict[str, Any], message: str) -> None:
    with pytest.raises(ToolError, match=message):
        segment(_args(**kw), _ctx(tmp_path, _square_png(tmp_path)))


def test_schema_lists_targets_and_rejects_unknown() -> None:
    tool = REGISTRY.get("segment")
    props = tool.parameters_schema()["properties"]
    assert props["target"]["enum"] == [
        "nuclei_he", "nuclei_fluorescence", "tissue", "lung_fields", "retinal_vessels", "prompted",
        "ct_organs",
    ]  # fmt: skip
    with pytest.raises(ToolArgumentError, match="target"):
        tool.parse_args({"image_id": "img1", "target": "liver"})
    with pytest.raises(ToolArgumentError, match="microns_per_pixel"):
        tool.parse_args({"image_id": "img1", "target": "tissue", "microns_per_pixel": -1})
    # Small models fill optional arrays: coordinates are non-negative and points few.
    with pytest.raises(ToolArgumentError, match="points"):
        tool.parse_args({"image_id": "img1", "target": "prompted", "points": [[-1, 3]]})
    with pytest.raises(ToolArgumentError, match="points"):
        tool.parse_args({"image_id": "img1", "target": "prompted", "points": [[1, 1]] * 6})
    point = props["points"]["items"]["prefixItems"][0]
    assert point["minimum"] == 0 and props["points"]["maxItems"] == 5


def test_stray_points_do_not_break_other_targets(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, _png(tmp_path, fluorescence(nuclei_mask())))
    args = _args(target="nuclei_fluorescence", points=[[900, 900]], background_points=[[0, 999]])
    result = segment(args, ctx)
    assert result.count == len(NUCLEUS_CENTRES)
    assert any("points are ignored" in n for n in result.notes)


@pytest.mark.parametrize("profile", ["smollm2-135m", "tiny-llava"])
async def test_agent_segments_and_overlay_reaches_the_chat(tmp_path: Path, profile: str) -> None:
    action = {
        "tool": "segment",
        "arguments": {"image_id": "img1", "target": "prompted", "points": [[60, 45]]},
    }
    model = ScriptedChatModel(
        [json.dumps(action), '{"tool": "answer"}', "The object covers 1200 px."]
    )
    ctx = AgentContext(
        model=model,
        profile=load_profile(profile),
        registry=REGISTRY,
        session_id="s1",
        session_dir=tmp_path / "session",
        attachments={"img1": make_attachment(_square_png(tmp_path))},
    )
    inputs: Any = {
        "messages": [
            HumanMessage(
                content="Outline the bright square", additional_kwargs={"attachments": ["img1"]}
            )
        ],
        "steps": 0,
    }
    events: list[Any] = []
    state: dict[str, Any] = {}
    stream: Any = build_graph().astream(inputs, context=ctx, stream_mode=["custom", "values"])
    async for mode, chunk in stream:
        if mode == "custom":
            events.append(chunk)
        else:
            state = chunk
    tool_msg = next(m for m in state["messages"] if isinstance(m, ToolMessage))
    result = json.loads(str(tool_msg.content))
    assert result["count"] == 1 and abs(result["structures"][0]["area_px"] - 1200) <= 12
    overlay = result["overlay_png"]
    assert (tmp_path / "session" / overlay).is_file()
    assert [a["path"] for a in tool_msg.artifact if a["kind"] == "image"] == [overlay]
    # Image-capable models get the overlay in a following user message; text-only ones the JSON.
    followers = [m for m in state["messages"] if m.additional_kwargs.get(ARTIFACTS_KEY)]
    images_sent = [
        part
        for msg in model.requests[1].messages
        if msg["role"] == "user" and isinstance(msg["content"], list)
        for part in msg["content"]
        if part["type"] == "image_url"
    ]
    if profile == "tiny-llava":
        assert followers and followers[0].additional_kwargs[ARTIFACTS_KEY] == [overlay]
        assert len(images_sent) == 2  # the attachment, then the overlay
    else:
        assert not followers and not images_sent
    assert any("Tool result (segment)" in str(m["content"]) for m in model.requests[1].messages)
    end = next(e for e in events if isinstance(e, ToolFinished))
    assert end.status == "success" and any(a["kind"] == "image" for a in end.artifacts)
    # The grammar offered the model the segment tool with its closed target vocabulary.
    schema = model.requests[0].json_schema
    assert schema is not None
    seg = next(o for o in schema["anyOf"] if o["properties"]["tool"]["const"] == "segment")
    assert "lung_fields" in seg["properties"]["arguments"]["properties"]["target"]["enum"]
    assert state["messages"][-1].content == "The object covers 1200 px."
