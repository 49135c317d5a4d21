"""The web app's wiring: the Assistant lives as long as the app; drawn regions are parsed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from assistant.config import load_config
from assistant.testing import ScriptedChatModel
from tools.geometry import Box
from ui.app import drawn_region
from ui.holder import AssistantHolder
from ui.slide_viewer import resolve_slide, slide_router


class ClosingModel(ScriptedChatModel):
    closed = False

    async def close(self) -> None:
        self.closed = True


def test_the_assistant_is_opened_and_closed_with_the_app(tmp_path: Path) -> None:
    """The holder's lifespan (what create_app gives FastAPI) opens the one Assistant and closes
    it on shutdown; the slide routes resolve through it. Gradio itself is left out here (its
    Blocks leave event loops unclosed); the browser tests run the whole create_app."""
    config = load_config({"data_dir": str(tmp_path / "data")})
    model = ClosingModel([])
    holder = AssistantHolder(config, model=model)
    app = FastAPI(lifespan=holder.lifespan)
    app.include_router(slide_router(lambda sid, iid: resolve_slide(holder.current, sid, iid)))
    with pytest.raises(RuntimeError, match="not running"):
        holder.current  # noqa: B018 - the property raises before the lifespan
    with TestClient(app) as client:
        assistant = holder.current
        session = assistant.new_session().id
        # The slide routes resolve through the same Assistant: an unknown image is a 404.
        assert client.get(f"/slides/{session}/img1.dzi").status_code == 404
    with pytest.raises(RuntimeError, match="not running"):
        holder.current  # noqa: B018
    assert model.closed  # shutdown closed the Assistant, and with it the model client


def test_drawn_region_from_the_viewer_field() -> None:
    raw = json.dumps({"image_id": "img2", "box": {"x": 5, "y": 6, "width": 7, "height": 8}})
    region = drawn_region(raw)
    assert region is not None and region.image_id == "img2"
    assert region.box == Box(x=5, y=6, width=7, height=8)
    assert drawn_region("") is None
    assert drawn_region("not json") is None
    assert drawn_region(json.dumps({"image_id": "img2", "box": {"x": -1}})) is None


def test_the_session_folder_is_one_static_path_however_many_apps(tmp_path: Path) -> None:
    """Gradio checks each file of each streamed chat update against every static path, and
    its list is process-wide: an app built again on the same folder does not lengthen it."""
    from gradio.data_classes import _StaticFiles  # the list gr.set_static_paths extends

    from ui.app import create_app

    config = load_config({"data_dir": str(tmp_path / "data")})
    folder = (tmp_path / "data" / "sessions").resolve()
    for _ in range(3):
        create_app(config)
    assert _StaticFiles.all_paths.count(folder) == 1
