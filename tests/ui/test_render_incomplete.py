"""A reopened session shows an answer that was cut short as incomplete, never as complete."""

from __future__ import annotations

from pathlib import Path

from langchain_core.messages import AIMessage, HumanMessage

from assistant.llm import INCOMPLETE_KEY, Incomplete
from ui.render import from_messages


def test_an_incomplete_answer_is_marked_when_the_session_reopens(tmp_path: Path) -> None:
    cut = AIMessage(
        content="Hello there,", additional_kwargs={INCOMPLETE_KEY: str(Incomplete.DROPPED)}
    )
    whole = AIMessage(content="Hello there, all of it.")
    view = from_messages([HumanMessage(content="Hi"), cut, whole], {}, tmp_path)
    texts = [m["content"] for m in view if m["role"] == "assistant"]
    assert texts == [
        "Hello there, (incomplete: the model server dropped the connection)",
        "Hello there, all of it.",
    ]
