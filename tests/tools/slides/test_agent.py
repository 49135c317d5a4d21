"""The real agent graph navigating a slide, driven by a scripted model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from langchain_core.messages import HumanMessage, ToolMessage

from assistant.catalog import REGISTRY
from assistant.config import load_profile
from assistant.graph import build_graph
from assistant.state import AgentContext
from assistant.testing import ScriptedChatModel
from tests.conftest import make_attachment
from tools.slides.visits import list_visits

OVERVIEW = '{"tool": "slide_overview", "arguments": {"image_id": "wsi1"}}'
ZOOM_1 = ('{"tool": "slide_zoom", "arguments": '
          '{"image_id": "wsi1", "box": {"x": 500, "y": 0, "width": 400, "height": 400}}}')
ZOOM_2 = ('{"tool": "slide_zoom", "arguments": '
          '{"image_id": "wsi1", "box": {"x": 600, "y": 100, "width": 200, "height": 200}}}')
NOTE = '{"tool": "slide_note", "arguments": {"image_id": "wsi1", "text": "red block"}}'
ANSWER = '{"tool": "answer"}'


async def _run(slide: Path, session: Path, profile: str, script: list[str],
               attach_to_message: bool = True) -> tuple[dict[str, Any], ScriptedChatModel]:
    model = ScriptedChatModel(script)
    ctx = AgentContext(
        model=model,
        profile=load_profile(profile),
        registry=REGISTRY,
        session_id="s1",
        session_dir=session,
        attachments={"wsi1": make_attachment(slide, "wsi1")},
        max_steps=20,
    )
    ids = ["wsi1"] if attach_to_message else []
    message = HumanMessage(content="Is there tumour?", additional_kwargs={"attachments": ids})
    state: dict[str, Any] = {}
    async for chunk in build_graph().astream({"messages": [message], "steps": 0}, context=ctx,
                                             stream_mode="values"):
        state = chunk
    return state, model


async def test_overview_then_two_zooms_text_model(slide_dir: Path, tmp_path: Path) -> None:
    script = [OVERVIEW, ZOOM_1, ZOOM_2, NOTE, ANSWER, "A red block at 20x; no nuclei."]
    state, model = await _run(slide_dir / "aperio.svs", tmp_path, "smollm2-135m", script)
    tools = [m for m in state["messages"] if isinstance(m, ToolMessage)]
    assert [m.name for m in tools] == ["slide_overview", "slide_zoom", "slide_zoom", "slide_note"]
    assert all(m.status == "success" for m in tools)
    first, second = (json.loads(str(m.content)) for m in tools[1:3])
    assert (first["zoom_number"], second["zoom_number"]) == (1, 2)
    assert (first["magnification"], second["magnification"]) == (20.0, 20.0)
    assert second["measurements"]["tissue_fraction"] == 1.0
    assert state["messages"][-1].content == "A red block at 20x; no nuclei."
    # The tools are offered with a schema the model is constrained to, image ids narrowed.
    schema = model.requests[0].json_schema
    assert schema is not None
    zoom = next(o for o in schema["anyOf"] if o["properties"]["tool"]["const"] == "slide_zoom")
    assert zoom["properties"]["arguments"]["properties"]["image_id"]["enum"] == ["wsi1"]
    # A text-only model gets the measurements and tissue boxes, never images.
    answer_request = model.requests[-1].messages
    assert any("tissue_regions" in str(m["content"]) for m in answer_request)
    assert not any(isinstance(m["content"], list) for m in answer_request)
    visits = list_visits(tmp_path, "wsi1")
    assert [v.kind for v in visits] == ["overview", "zoom", "zoom", "note"]


async def test_crops_reach_a_vision_model_as_user_images(slide_dir: Path, tmp_path: Path) -> None:
    script = [OVERVIEW, ZOOM_1, ZOOM_2, ANSWER, "Red."]
    _, model = await _run(slide_dir / "aperio.svs", tmp_path, "tiny-llava", script,
                          attach_to_message=False)
    after_zooms = model.requests[3].messages
    image_messages = [m for m in after_zooms if isinstance(m["content"], list)]
    assert [m["role"] for m in image_messages] == ["user", "user", "user"]  # overview + 2 zooms
    assert all(
        part["image_url"]["url"].startswith("data:image/png;base64,")
        for m in image_messages
        for part in m["content"][1:]
    )
    assert not any(m["role"] == "tool" for m in after_zooms)
