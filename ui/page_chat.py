"""The chat as the page receives it: Gradio's Chatbot postprocessing, done by the handler.

The send event runs with `postprocess=False` (`ui.app`): Gradio would otherwise hand each of
its seven outputs to a worker thread on every streamed update, and each hand-over waits for
the interpreter's lock while the busy event loop holds it (BENCHMARKS.md, "the send event's
outputs as the page receives them"). The chat's messages, as this app writes them (plain
text or Markdown, a `metadata` of strings), are turned into the page's form here, exactly
as `gr.Chatbot.postprocess` would; anything else goes through Gradio's own postprocessing.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from functools import cache
from typing import Any

import gradio as gr

__all__ = ["for_page"]

_KEYS = frozenset({"role", "content", "metadata", "options"})
_TEXT_META = frozenset({"title", "id", "parent_id", "log"})
_STATUS = ("pending", "done")


@cache
def _chatbot() -> gr.Chatbot:
    return gr.Chatbot(render=False)


def _plain_metadata(metadata: Any) -> bool:
    """Metadata that Gradio's model would pass on unchanged (strings, a known status)."""
    if metadata is None:
        return True
    if not isinstance(metadata, dict):
        return False
    for key, value in metadata.items():
        if key == "status":
            if value not in _STATUS:
                return False
        elif key not in _TEXT_META or not isinstance(value, str):
            return False
    return True


def _text_parts(content: Any) -> list[dict[str, str]] | None:
    """The page's content parts of a text message, or None for anything else."""
    if isinstance(content, str):
        return [{"text": inspect.cleandoc(content), "type": "text"}]
    if not isinstance(content, list) or not content:
        return None
    parts = []
    for part in content:
        if not (isinstance(part, dict) and set(part) == {"text", "type"}):
            return None
        if part["type"] != "text" or not isinstance(part["text"], str):
            return None
        parts.append({"text": part["text"], "type": "text"})
    return parts


def _page_message(message: dict[str, Any]) -> list[dict[str, Any]]:
    """One chat message in the page's form (Gradio's may split or drop a message: a list)."""
    metadata = message.get("metadata")
    parts = _text_parts(message.get("content"))
    if (
        parts is not None
        and isinstance(message.get("role"), str)
        and set(message) <= _KEYS
        and message.get("options") is None
        and _plain_metadata(metadata)
    ):
        shown = None if metadata is None else dict(metadata)
        return [{"role": message["role"], "metadata": shown, "content": parts, "options": None}]
    posted: list[dict[str, Any]] = _chatbot().postprocess([message]).model_dump()  # type: ignore[list-item]
    return posted


def for_page(history: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The chat `history` as `gr.Chatbot.postprocess(history).model_dump()` gives it."""
    return [shown for message in history for shown in _page_message(message)]
