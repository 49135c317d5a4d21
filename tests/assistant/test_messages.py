from __future__ import annotations

from pathlib import Path

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from assistant.config import load_profile
from assistant.messages import to_openai
from tests.conftest import make_attachment


def test_text_model_gets_notes_not_pixels(tmp_path: Path, gradient_png: Path) -> None:
    att = make_attachment(gradient_png)
    msgs = [HumanMessage(content="look", additional_kwargs={"attachments": ["img1"]})]
    out = to_openai(msgs, load_profile("smollm2-135m"), {"img1": att}, tmp_path, "sys")
    assert out[1] == {"role": "user", "content": f"look\n[attached img1: {att.name}]"}


def test_dangling_tool_call_is_dropped(tmp_path: Path) -> None:
    msgs = [
        HumanMessage(content="hi"),
        AIMessage(content="", tool_calls=[{"id": "lost", "name": "describe_image", "args": {}}]),
        HumanMessage(content="again"),
    ]
    for profile in ("smollm2-135m", "qwen2.5-vl-7b-instruct"):
        out = to_openai(msgs, load_profile(profile), {}, tmp_path, "sys")
        assert all("tool_calls" not in m for m in out)
        assert [m["role"] for m in out][-1] == "user"


def test_only_newest_images_are_sent(tmp_path: Path, gradient_png: Path) -> None:
    atts = {f"img{i}": make_attachment(gradient_png, f"img{i}") for i in range(1, 7)}
    msgs = [
        HumanMessage(content=f"m{i}", additional_kwargs={"attachments": [f"img{i}"]})
        for i in range(1, 7)
    ]
    profile = load_profile("tiny-llava")
    out = to_openai(msgs, profile, atts, tmp_path, "sys")
    kinds = [p["type"] for m in out if isinstance(m["content"], list) for p in m["content"]]
    assert kinds.count("image_url") == profile.max_images_per_request
    last = out[-1]["content"]
    assert last[-1]["type"] == "image_url"
    assert out[1]["content"][-1] == {"type": "text", "text": "[earlier image omitted]"}


def test_tool_results_for_constrained_models_are_user_text(tmp_path: Path) -> None:
    msgs = [
        HumanMessage(content="q"),
        AIMessage(
            content="",
            tool_calls=[{"id": "c", "name": "describe_image", "args": {"image_id": "img1"}}],
        ),
        ToolMessage(content="boom", tool_call_id="c", name="describe_image", status="error"),
    ]
    out = to_openai(msgs, load_profile("smollm2-135m"), {}, tmp_path, "sys")
    assert out[-1] == {"role": "user", "content": "Tool error (describe_image): boom"}
    assert out[-2]["role"] == "assistant" and '"tool": "describe_image"' in out[-2]["content"]
    hidden = to_openai(msgs, load_profile("smollm2-135m"), {}, tmp_path, "sys", show_actions=False)
    assert all(m["role"] != "assistant" for m in hidden)
