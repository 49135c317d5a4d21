"""The real vLLM server (SmolLM2) fills forced calls under the narrowed schemas.

Whatever the model picks, it can only pick what fits each image: a chest radiograph's
segmentation is lung fields, an H&E image's nuclei or tissue, never a box nobody drew;
a one-frame picture has no frame argument and no CT window. The grammar engine must
accept the narrowed schemas (one variant per image, enums and consts).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from langchain_core.messages import AnyMessage, HumanMessage, ToolMessage
from PIL import Image

from assistant.graph import build_graph
from assistant.server import VLLMServer
from assistant.state import AgentContext, AgentState
from tests.conftest import make_attachment
from tests.tools.segmentation import synthetic
from tests.vllm_servers import recording_client
from tools.attachments import Attachment
from tools.imaging.classify import classify_upload
from tools.imaging.describe import describe_image
from tools.imaging.view import view_dicom
from tools.registry import Registry, Tool
from tools.segmentation.tool import segment

pytestmark = pytest.mark.vllm


def _attachment(path: Path, pixels: np.ndarray, image_id: str) -> Attachment:
    Image.fromarray(np.ascontiguousarray(pixels)).save(path)
    att = make_attachment(path, image_id)
    return replace(att, facts=classify_upload(att.kind, att.facts, pixels))


async def _forced(
    server: VLLMServer, tmp_path: Path, tool: str, text: str
) -> tuple[list[AnyMessage], dict[str, object]]:
    cxr = _attachment(tmp_path / "chest.png", synthetic.chest_xray()[0], "img1")
    he = _attachment(tmp_path / "he.png", synthetic.he_tile(synthetic.nuclei_mask()), "img2")
    assert (cxr.facts.image_class, he.facts.image_class) == ("radiograph", "stained_tissue")
    model = recording_client(server)
    registry = Registry([Tool.from_function(f) for f in (describe_image, view_dicom, segment)])
    ctx = AgentContext(model=model, profile=server.profile, registry=registry, session_id="s1",
                       session_dir=tmp_path / "session", attachments={"img1": cxr, "img2": he},
                       max_steps=1)  # fmt: skip
    inputs: AgentState = {
        "messages": [HumanMessage(content=text, additional_kwargs={"attachments": ["img1"]})],
        "steps": 0,
        "force_tool": tool,
    }
    messages: list[AnyMessage] = []
    async for state in build_graph().astream(inputs, context=ctx, stream_mode="values"):
        messages = state["messages"]
    await model.close()
    schema = model.requests[0].json_schema
    assert schema is not None
    return messages, schema


async def test_forced_segment_fits_the_chosen_image(
    text_server: VLLMServer, tmp_path: Path
) -> None:
    messages, schema = await _forced(text_server, tmp_path, "segment", "Segment img1.")
    variants = schema["properties"]["arguments"]["anyOf"]  # type: ignore[index]
    by_image = {v["properties"]["image_id"]["enum"][0]: v for v in variants}
    assert by_image["img1"]["properties"]["target"]["enum"] == ["lung_fields"]
    assert "box" not in json.dumps(schema)
    call = next(c for m in messages for c in getattr(m, "tool_calls", []))
    args = call["args"]
    fitting = {"img1": {"lung_fields"}, "img2": {"nuclei_he", "tissue"}}
    assert args["target"] in fitting[args["image_id"]], args
    assert set(args) <= {"image_id", "target", "microns_per_pixel"}
    result = next(m for m in messages if isinstance(m, ToolMessage))
    assert result.status == "success", result.content
    assert json.loads(str(result.content))["count"] >= 1


async def test_forced_view_has_no_frame_or_ct_window_on_a_picture(
    text_server: VLLMServer, tmp_path: Path
) -> None:
    messages, schema = await _forced(text_server, tmp_path, "view_dicom", "Show me img1.")
    args_schema = schema["properties"]["arguments"]  # type: ignore[index]
    assert args_schema["properties"]["window"]["enum"] == ["auto", "full"]
    assert "frame" not in args_schema["properties"]
    assert "mediastinum" not in json.dumps(schema)
    call = next(c for m in messages for c in getattr(m, "tool_calls", []))
    assert call["args"].get("window", "auto") in ("auto", "full")
    result = next(m for m in messages if isinstance(m, ToolMessage))
    assert result.status == "success", result.content
    assert json.loads(str(result.content))["frame"] == 1
