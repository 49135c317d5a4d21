"""A question about a drawn slide region starts with slide_zoom on exactly that region."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assistant.config import load_config
from assistant.events import ToolFinished, ToolStarted, TurnDone
from assistant.regions import region_call
from assistant.service import Assistant
from assistant.testing import ScriptedChatModel
from tests.conftest import make_attachment
from tools.slides.synthetic import write_slide
from tools.slides.visits import list_visits

QUESTION = (
    "Look at slide img2, region x=600, y=100, width=200, height=200 (level-0 pixels): "
    "what do you see there?"
)


@pytest.fixture
def slide(tmp_path: Path) -> Path:
    base = np.full((768, 1024, 3), 255, np.uint8)
    base[100:300, 600:800] = (200, 30, 30)
    return write_slide(tmp_path / "slide.svs", base, layout="aperio", compression="jpeg")


def test_region_call_needs_an_attached_slide(slide: Path, gradient_png: Path) -> None:
    attachments = {"img1": make_attachment(gradient_png), "img2": make_attachment(slide, "img2")}
    assert region_call(QUESTION, attachments) == {
        "name": "slide_zoom",
        "args": {"image_id": "img2", "box": {"x": 600, "y": 100, "width": 200, "height": 200}},
    }
    typed = "slide img2 region x = 5, y=6, width=7 , height=8 please"
    assert region_call(typed, attachments)["args"] == {  # type: ignore[index]
        "image_id": "img2", "box": {"x": 5, "y": 6, "width": 7, "height": 8},
    }
    assert region_call(QUESTION.replace("img2", "img1"), attachments) is None  # not a slide
    assert region_call(QUESTION.replace("img2", "img9"), attachments) is None  # not attached
    assert region_call("What is in the upper left region?", attachments) is None


async def test_drawn_region_is_zoomed_before_the_model_decides(
    tmp_path: Path, slide: Path, gradient_png: Path
) -> None:
    answer = '{"tool": "answer"}'
    model = ScriptedChatModel([answer, "A red block.", answer, "You are welcome."])
    config = load_config({"data_dir": str(tmp_path / "data")})
    async with Assistant(config, model=model) as assistant:
        session = assistant.new_session().id
        assistant.add_upload(session, gradient_png, "gradient.png")
        att = assistant.add_upload(session, slide, "slide.svs")
        assert att.id == "img2"
        events = [e async for e in assistant.run_turn(session, QUESTION, [att.id])]
        started = [e for e in events if isinstance(e, ToolStarted)]
        assert [(e.name, e.arguments) for e in started] == [
            (
                "slide_zoom",
                {"image_id": "img2", "box": {"x": 600, "y": 100, "width": 200, "height": 200}},
            )
        ]
        (finished,) = [e for e in events if isinstance(e, ToolFinished)]
        assert finished.status == "success" and finished.artifacts
        assert isinstance(events[-1], TurnDone) and events[-1].answer == "A red block."
        # The model's first request already holds the zoom's result: it decided after seeing it.
        first = model.requests[0].messages
        assert any('"zoom_number":1' in str(m["content"]) for m in first)
        visits = list_visits(assistant.sessions.session_dir(session), "img2")
        assert [(v.kind, v.x, v.y, v.width, v.height) for v in visits] == [
            ("zoom", 600, 100, 200, 200)
        ]
        # The next message is an ordinary turn again: no planned zoom carried over.
        events = [e async for e in assistant.run_turn(session, "Thanks.")]
        assert not [e for e in events if isinstance(e, ToolStarted)]
