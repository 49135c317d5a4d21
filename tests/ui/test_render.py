from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from assistant.events import Notice, Token, ToolFinished, ToolStarted, TurnFailed
from tests.conftest import make_attachment
from ui.render import apply_event, from_messages


def test_events_build_streamed_answer_and_collapsible_steps(tmp_path: Path) -> None:
    history: list[dict] = []
    apply_event(history, ToolStarted("c1", "describe_image", {"image_id": "img1"}), tmp_path)
    assert history[-1]["metadata"]["status"] == "pending"
    art = {"kind": "image", "path": "artifacts/o.png", "caption": "overlay"}
    apply_event(
        history, ToolFinished("c1", "describe_image", "success", '{"width_px": 5}', [art]), tmp_path
    )
    step = history[0]
    assert step["metadata"] == {"title": "Tool · describe_image", "id": "c1", "status": "done"}
    assert '"width_px": 5' in step["content"]
    assert history[1] == {
        "role": "assistant",
        "content": f"![overlay](gradio_api/file={tmp_path}/artifacts/o.png)",
        "metadata": {"id": "image"},
    }
    for piece in ["The", " image", " is small."]:
        apply_event(history, Token(piece), tmp_path)
    assert history[-1] == {"role": "assistant", "content": "The image is small."}
    apply_event(history, Notice("note"), tmp_path)
    apply_event(history, TurnFailed("server down"), tmp_path)
    assert history[-1]["content"] == "⚠️ server down"


def test_stored_session_rebuilds_without_synthetic_messages(
    tmp_path: Path, gradient_png: Path
) -> None:
    att = make_attachment(gradient_png)
    messages = [
        HumanMessage(content="size?", additional_kwargs={"attachments": ["img1"]}),
        AIMessage(
            content="",
            tool_calls=[{"id": "c1", "name": "describe_image", "args": {"image_id": "img1"}}],
        ),
        ToolMessage(content='{"width_px": 64}', tool_call_id="c1", name="describe_image"),
        HumanMessage(
            content="Images produced by the tools above.", additional_kwargs={"synthetic": True}
        ),
        AIMessage(content="64 pixels wide."),
    ]
    view = from_messages(messages, {"img1": att}, tmp_path)
    assert [m["role"] for m in view] == ["user", "user", "assistant", "assistant"]
    assert view[0]["content"] == f"![{att.name}](gradio_api/file={quote(str(gradient_png))})"
    assert view[2]["metadata"]["title"] == "Tool · describe_image"
    assert view[-1]["content"] == "64 pixels wide."


def test_an_answer_shows_what_it_rests_on_live_and_when_reopened(tmp_path: Path) -> None:
    from assistant.events import AnswerReviewed
    from assistant.review import REVIEW_KEY, review_answer

    answer = "I zoomed into the tumour."
    live: list[dict[str, object]] = [{"role": "assistant", "content": answer}]
    review = review_answer(answer, [HumanMessage(content="Look at it.")])
    event = AnswerReviewed(review.summary(), [(m.sentence, m.problem) for m in review.marks])
    apply_event(live, event, tmp_path)
    assert "*No tool was used for this answer.*" in live[-1]["content"]
    assert "“I zoomed into the tumour.” — claims an action that did not run" in live[-1]["content"]
    hidden: list[dict[str, object]] = []
    apply_event(hidden, event, tmp_path, show_marks=False)
    assert hidden[-1]["content"] == "*No tool was used for this answer.*"
    stored = AIMessage(content=answer, additional_kwargs={REVIEW_KEY: review.model_dump()})
    reopened = from_messages([HumanMessage(content="Look at it."), stored], {}, tmp_path)
    assert reopened[-1]["content"] == live[-1]["content"]


def test_an_answer_cut_short_is_marked_live(tmp_path: Path) -> None:
    from assistant.events import TurnDone

    live: list[dict[str, object]] = []
    apply_event(live, Token("Hello there"), tmp_path)
    apply_event(live, TurnDone("Hello there", incomplete="the model server dropped the connection"),
                tmp_path)  # fmt: skip
    assert live[-1]["content"] == (
        "Hello there (incomplete: the model server dropped the connection)"
    )
    whole: list[dict[str, object]] = []
    apply_event(whole, Token("All of it."), tmp_path)
    apply_event(whole, TurnDone("All of it."), tmp_path)
    assert whole[-1]["content"] == "All of it."


@pytest.mark.parametrize("show", [True, False])
async def test_the_ui_setting_hides_the_marks_of_a_reopened_session(
    tmp_path: Path, show: bool
) -> None:
    """`ui.show_marks` reaches the chat the sessions panel rebuilds (the tool line stays)."""
    from assistant.config import load_config
    from assistant.service import Assistant
    from assistant.testing import ScriptedChatModel
    from ui.sessions_panel import _open

    model = ScriptedChatModel(['{"tool": "answer"}', "I zoomed into the tumour."])
    config = load_config({"data_dir": str(tmp_path / "d"), "ui": {"show_marks": show}})
    async with Assistant(config, model=model) as assistant:
        session = assistant.new_session().id
        [e async for e in assistant.run_turn(session, "Look at it.")]
        _, chat = await _open(assistant, session)
    last = str(chat[-1]["content"])
    assert last.startswith("*No tool was used for this answer.*")
    assert ("claims an action that did not run" in last) is show, last


def test_an_image_is_markdown_whose_url_and_alt_text_cannot_break_out(tmp_path: Path) -> None:
    """Spaces and brackets in a folder or caption stay inside the image's URL and alt text."""
    from ui.render import image_message

    shown = image_message("user", tmp_path / "a (b) [c]" / "img1.png", "lungs [left]\n](x)")
    folder = quote(str(tmp_path))
    assert (
        shown["content"]
        == f"![lungs  left   (x)](gradio_api/file={folder}/a%20%28b%29%20%5Bc%5D/img1.png)"
    )
