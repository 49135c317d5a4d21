"""The real vLLM server with the embedded SmolLM2 model zooms into a slide twice.

Each turn forces the first action to be slide_zoom; the model itself writes the
arguments under the JSON-schema grammar (constrained action), so they are always
well-formed. A 135M model's choice of rectangle is arbitrary: a rectangle outside the
slide must come back to it as a clear tool error, never a crash.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage

from assistant.graph import build_graph
from assistant.server import VLLMServer
from assistant.state import AgentContext, AgentState
from tests.conftest import make_attachment
from tests.vllm_servers import recording_client
from tools.registry import Registry, Tool
from tools.slides.navigate import slide_note, slide_overview, slide_zoom
from tools.slides.synthetic import tiled_jpeg_slide
from tools.slides.visits import list_visits

pytestmark = pytest.mark.vllm


async def test_model_zooms_twice_by_constrained_action(
    text_server: VLLMServer, tmp_path: Path
) -> None:
    block = np.full((1024, 1024, 3), (235, 170, 205), np.uint8)
    block[256:768, 256:768] = (120, 60, 150)
    slide = tiled_jpeg_slide(tmp_path / "big.tiff", block, (8, 8), levels=4)  # 8192²
    model = recording_client(text_server)
    registry = Registry([Tool.from_function(f) for f in (slide_overview, slide_zoom, slide_note)])
    ctx = AgentContext(
        model=model,
        profile=text_server.profile,
        registry=registry,
        session_id="s1",
        session_dir=tmp_path / "session",
        attachments={"img1": make_attachment(slide, "img1")},
        max_steps=1,
    )
    messages: list[AnyMessage] = []
    for text in ("Zoom into the purple square of slide img1.", "Zoom closer, please."):
        inputs: AgentState = {
            "messages": [*messages, HumanMessage(content=text,
                                                 additional_kwargs={"attachments": ["img1"]})],
            "steps": 0,
            "force_tool": "slide_zoom",
        }
        async for state in build_graph().astream(inputs, context=ctx, stream_mode="values"):
            messages = state["messages"]
    await model.close()
    zooms = [m for m in messages if isinstance(m, ToolMessage) and m.name == "slide_zoom"]
    assert len(zooms) == 2
    calls = [c for m in messages for c in getattr(m, "tool_calls", [])]
    for call in calls:
        args = call["args"]
        assert set(args) == {"image_id", "box"}, args
        box = args["box"]
        assert args["image_id"] == "img1" and set(box) == {"x", "y", "width", "height"}
        assert all(isinstance(box[k], int) for k in ("x", "y", "width", "height"))
        assert min(box["x"], box["y"]) >= 0 and min(box["width"], box["height"]) >= 1
    for message in zooms:
        if message.status == "error":
            assert "outside the slide" in message.content or "at least 16" in message.content
        else:
            assert json.loads(str(message.content))["zoom_number"] >= 1
    succeeded = sum(m.status != "error" for m in zooms)
    assert len(list_visits(ctx.session_dir, "img1", "zoom")) == succeeded
    assert all(r.json_schema is not None for r in model.requests[::2])  # constrained actions


@pytest.mark.vllm_vision
async def test_crops_reach_the_real_vision_model(vision_server: VLLMServer, tmp_path: Path) -> None:
    """Overview and zoom images travel to vLLM in user messages (never in tool messages)."""
    block = np.full((512, 512, 3), (235, 170, 205), np.uint8)
    block[128:384, 128:384] = (120, 60, 150)
    slide = tiled_jpeg_slide(tmp_path / "slide.tiff", block, (8, 8), levels=3)  # 4096²
    model = recording_client(vision_server)
    registry = Registry([Tool.from_function(f) for f in (slide_overview, slide_zoom)])
    ctx = AgentContext(
        model=model,
        profile=vision_server.profile,
        registry=registry,
        session_id="s1",
        session_dir=tmp_path / "session",
        attachments={"img1": make_attachment(slide, "img1")},
        max_steps=1,
    )
    messages: list[AnyMessage] = []
    for text, tool in (("Look at slide img1.", "slide_overview"), ("Zoom in.", "slide_zoom")):
        inputs: AgentState = {
            "messages": [*messages, HumanMessage(content=text)],
            "steps": 0,
            "force_tool": tool,
        }
        async for state in build_graph().astream(inputs, context=ctx, stream_mode="values"):
            messages = state["messages"]
    await model.close()
    tools = [m for m in messages if isinstance(m, ToolMessage)]
    assert [m.name for m in tools] == ["slide_overview", "slide_zoom"]
    assert tools[0].status == "success"
    answer = model.requests[-1].messages
    assert not any(m["role"] == "tool" for m in answer)
    images = [p for m in answer if isinstance(m["content"], list) for p in m["content"]
              if p.get("type") == "image_url"]
    assert len(images) == 1 + (tools[1].status == "success")  # overview (+ the zoom crop)
    assert isinstance(messages[-1], AIMessage) and messages[-1].content  # the server answered
