"""The real vLLM server (tiny LLaVA) requests a segmentation by constrained action.

The first action is forced to be `segment`; the model writes the arguments under the
JSON-schema grammar, so they are well-formed and `target` is one of the listed values.
Which target a plumbing model picks is arbitrary: a choice that needs a prompt it did
not give must come back to it as a clear tool error. On success the overlay must reach
the model as an image in the following user message (vLLM refuses images in tool
messages).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from langchain_core.messages import AnyMessage, HumanMessage, ToolMessage
from PIL import Image

from assistant.graph import build_graph
from assistant.messages import ARTIFACTS_KEY
from assistant.server import VLLMServer
from assistant.state import AgentContext, AgentState
from tests.conftest import make_attachment
from tests.tools.segmentation.synthetic import he_tile, nuclei_mask
from tests.vllm_servers import recording_client
from tools.registry import Registry, Tool
from tools.segmentation.tool import segment
from tools.segmentation.types import Target

pytestmark = pytest.mark.vllm_vision


async def test_model_segments_by_constrained_action(
    vision_server: VLLMServer, tmp_path: Path
) -> None:
    path = tmp_path / "he.png"  # colour, so that every target but a prompt-less one works
    Image.fromarray(np.ascontiguousarray(he_tile(nuclei_mask()))).save(path)
    model = recording_client(vision_server)
    ctx = AgentContext(
        model=model,
        profile=vision_server.profile,
        registry=Registry([Tool.from_function(segment)]),
        session_id="s1",
        session_dir=tmp_path / "session",
        attachments={"img1": make_attachment(path, "img1")},
        max_steps=2,
    )
    text = "Count the nuclei in the H&E image img1."
    inputs: AgentState = {
        "messages": [HumanMessage(content=text, additional_kwargs={"attachments": ["img1"]})],
        "steps": 0,
        "force_tool": "segment",
    }
    messages: list[AnyMessage] = []
    async for state in build_graph().astream(inputs, context=ctx, stream_mode="values"):
        messages = state["messages"]
    await model.close()
    calls = [c for m in messages for c in getattr(m, "tool_calls", [])]
    assert calls and calls[0]["name"] == "segment"
    args = calls[0]["args"]
    assert args["image_id"] == "img1" and args["target"] in {t.value for t in Target}
    results = [m for m in messages if isinstance(m, ToolMessage)]
    assert model.requests[0].json_schema is not None  # a constrained action
    first = results[0]
    if first.status == "error":
        clear = ("needs a prompt", "is outside the image", "is empty", "lies outside")
        assert any(c in str(first.content) for c in clear), first.content
        return
    result = json.loads(str(first.content))
    overlay = result["overlay_png"]
    assert (ctx.session_dir / overlay).is_file()
    followers = [m for m in messages if m.additional_kwargs.get(ARTIFACTS_KEY)]
    assert followers[0].additional_kwargs[ARTIFACTS_KEY] == [overlay]
    later = model.requests[1].messages
    images = [
        p
        for m in later
        if isinstance(m["content"], list)
        for p in m["content"]
        if p["type"] == "image_url"
    ]
    assert len(images) == 2  # the attachment and the overlay
