"""The send event's chat, turned into the page's form by the handler, is exactly what
Gradio's own Chatbot postprocessing gives, for every kind of message the chat shows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
import pytest
from pydantic import ValidationError

import ui.page_chat as page_chat
from assistant.events import (
    AnswerReviewed,
    Notice,
    Token,
    ToolFinished,
    ToolStarted,
    TurnDone,
    TurnEvent,
    TurnFailed,
    TurnQueued,
)
from ui.page_chat import for_page
from ui.render import apply_event, image_message


def gradio_form(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    shown: list[dict[str, Any]] = gr.Chatbot(render=False).postprocess(history).model_dump()  # type: ignore[arg-type]
    return shown


def a_whole_turn(tmp_path: Path) -> list[dict[str, Any]]:
    """A chat with every kind of line a turn shows, built as the send handler builds it."""
    history: list[dict[str, Any]] = [
        image_message("user", tmp_path / "case [1].png", "chest (PA).png"),
        {"role": "user", "content": "What do you see?\n    Indented line."},
    ]
    events: list[TurnEvent] = [
        TurnQueued(position=2, running=4, reason="four turns are running"),
        ToolStarted("c1", "segment", {"image_id": "img1", "target": "lung_fields"}),
        ToolFinished(
            "c1",
            "segment",
            "success",
            '{"regions": [{"label": "right lung", "area_px": 41172}]}',
            [{"kind": "image", "path": "artifacts/overlay.png", "caption": "lungs"}],
        ),
        ToolStarted("c2", "retrieve", {"query": "effusion"}),
        ToolFinished("c2", "retrieve", "error", "the index is not built"),
        Notice("The answer was checked against the tool results."),
        Token("  Both lung"),
        Token(" fields are clear.\n\n  - no effusion"),
        TurnDone("Both lung fields are clear.", incomplete="the answer reached the token limit"),
        AnswerReviewed("Tools: segment", [("no effusion", "no tool result says so")]),
        TurnFailed("the model server closed the connection"),
    ]
    for event in events:
        apply_event(history, event, tmp_path)
    history.append({"role": "assistant", "content": ""})
    return history


def test_every_line_of_a_turn_matches_gradios_postprocessing(tmp_path: Path) -> None:
    history = a_whole_turn(tmp_path)
    assert len(history) >= 9
    assert for_page(history) == gradio_form(history)


def test_a_chat_sent_back_by_the_page_is_kept_as_it_is(tmp_path: Path) -> None:
    """The next message brings the chat back in the page's form, then new lines are added."""
    echoed = gradio_form(a_whole_turn(tmp_path))
    mixed = [*echoed, {"role": "user", "content": "And next?"}]
    assert for_page(mixed) == gradio_form(mixed)
    assert for_page(echoed) == echoed


def test_the_chats_own_lines_never_need_gradios_postprocessing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The point of the module: no Chatbot model is built for the lines this app writes."""
    history = a_whole_turn(tmp_path)
    echoed = gradio_form(history)

    def refuse() -> None:
        raise AssertionError("Gradio's postprocessing was used")

    monkeypatch.setattr(page_chat, "_chatbot", refuse)
    assert for_page([*echoed, *history]) == [*echoed, *gradio_form(history)]


@pytest.mark.parametrize(
    "message",
    [
        {"role": "assistant", "content": "Pick one", "options": [{"value": "a", "label": "A"}]},
        {"role": "assistant", "content": "slow", "metadata": {"title": "Step", "duration": 2}},
        {"role": "assistant", "content": [{"type": "text", "text": "a", "extra": 1}]},
        {"role": "assistant", "content": []},
    ],
)
def test_other_messages_go_through_gradio(message: dict[str, Any]) -> None:
    assert for_page([message]) == gradio_form([message])


@pytest.mark.parametrize(
    "metadata", [{"title": "Step", "status": "running"}, {"title": 3}, "a title"]
)
def test_metadata_gradio_refuses_is_refused_alike(metadata: Any) -> None:
    message = {"role": "assistant", "content": "odd", "metadata": metadata}
    with pytest.raises(ValidationError):
        gradio_form([message])
    with pytest.raises(ValidationError):
        for_page([message])
