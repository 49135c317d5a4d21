"""Turn agent events and stored messages into Gradio chat messages (pure functions)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage

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
from assistant.llm import INCOMPLETE_KEY
from assistant.messages import ATTACHMENTS_KEY, SYNTHETIC_KEY
from assistant.review import REVIEW_KEY, AnswerReview
from tools.attachments import Attachment

ChatMessage = dict[str, Any]
MAX_RESULT_CHARS = 4000
IMAGE_ID = "image"
FILE_ROUTE = "gradio_api/file="
"""Where the page fetches a session's file (relative: it resolves against the page's own
address, behind a reverse proxy's path too; the access check covers it as any file URL)."""
_ALT_UNSAFE = re.compile(r"[\[\]\\\n\r]")


def image_message(role: str, path: Path | str, alt: str) -> ChatMessage:
    """A picture in the chat: Markdown pointing at the file on this server.

    Marked as a picture (`metadata.id`, no title: shown as a plain message) so that an
    answer's tokens streaming after it start a message of their own.

    Not a Gradio file message, which Gradio checks against its static folders (a stat and
    two path resolutions per folder) twice for every streamed update of the chat, and again
    in the chat the page sends back with each message: for twenty answers streaming at
    once, a fifth to a quarter of the app's CPU per turn (BENCHMARKS.md, "the chat's
    pictures as Markdown"). The page shows the Markdown image as it showed the file
    message's, from the same URL.
    """
    shown_alt = _ALT_UNSAFE.sub(" ", alt).strip()
    content = f"![{shown_alt}]({FILE_ROUTE}{quote(str(path))})"
    return {"role": role, "content": content, "metadata": {"id": IMAGE_ID}}


def _pretty(content: str) -> str:
    try:
        text = json.dumps(json.loads(content), indent=2)
    except (json.JSONDecodeError, TypeError):
        text = content
    if len(text) > MAX_RESULT_CHARS:
        text = text[:MAX_RESULT_CHARS] + "\n… (truncated)"
    return f"```json\n{text}\n```"


def tool_title(name: str, status: str) -> str:
    """Title of a collapsible tool step."""
    suffix = {"pending": " (running)", "error": " (error)"}.get(status, "")
    return f"Tool · {name}{suffix}"


_NOUNS = {
    "nuclei_he": "nuclei",
    "nuclei_fluorescence": "nuclei",
    "lung_fields": "lung field(s)",
    "retinal_vessels": "vessel region(s)",
    "tissue": "tissue region(s)",
}


def _area(area: Any) -> str:
    if not isinstance(area, dict) or "value" not in area:
        return ""
    value = float(area["value"])
    shown = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return f"{shown} {area.get('unit', '')}".strip()


def _measurement(data: dict[str, Any]) -> str:
    """'distance 43.2 mm' or 'area 120 mm², mean 35 HU (sd 12)' of a `measure` result."""
    if isinstance(data.get("length"), dict):
        return f"distance {_area(data['length'])}"
    text = f"{data['shape']} area {_area(data.get('area'))}"
    values = data.get("values")
    if isinstance(values, dict):
        units = f" {values['units']}" if values.get("units") else ""
        text += f", mean {values.get('mean')}{units} (sd {values.get('sd')})"
    return text


def result_summary(content: str) -> str:
    """One line a person reads without opening the step: counts and areas, the window used."""
    try:
        data = json.loads(content)
    except (json.JSONDecodeError, TypeError):
        return ""
    if not isinstance(data, dict):
        return ""
    if "count" in data and "total_area" in data:
        noun = _NOUNS.get(str(data.get("target")), "structure(s)")
        parts = [f"{data['count']} {noun}", f"total {_area(data['total_area'])}"]
        structures = data.get("structures") or []
        if 0 < len(structures) <= 3:
            parts += [f"{s.get('name', '?')} {_area(s.get('area'))}" for s in structures]
        elif data.get("mean_area"):
            parts.append(f"mean {_area(data['mean_area'])}")
        return ", ".join(parts)
    if data.get("shape") in ("line", "ellipse", "polygon"):
        return _measurement(data)
    if "window_used" in data:
        return f"window {data['window_used']}, frame {data.get('frame')} of {data.get('frames')}"
    return ""


QUEUED_ID = "queued"
"""Metadata id of the chat line saying the turn waits for a free slot (removed once it runs)."""


def apply_event(
    history: list[ChatMessage], event: TurnEvent, session_dir: Path, show_marks: bool = True
) -> None:
    """Update the chat `history` in place for one event of a running turn.

    `show_marks` False hides the sentences an answer's review flags (the tool line stays).
    """
    queued = next((m for m in history if (m.get("metadata") or {}).get("id") == QUEUED_ID), None)
    if isinstance(event, TurnQueued):  # one line, updated as the turn moves up
        if queued is None:
            queued = {"role": "assistant", "content": "", "metadata": {"id": QUEUED_ID}}
            history.append(queued)
        queued["content"] = event.text
        return
    if queued is not None:  # the turn has started: the busy line has done its job
        history.remove(queued)
    if isinstance(event, Token):
        last = history[-1] if history else None
        if (
            last is not None
            and last["role"] == "assistant"
            and not last.get("metadata")
            and isinstance(last["content"], str)
        ):
            last["content"] += event.text
        else:
            history.append({"role": "assistant", "content": event.text})
    elif isinstance(event, ToolStarted):
        history.append(
            {
                "role": "assistant",
                "content": f"Arguments:\n{_pretty(json.dumps(event.arguments))}",
                "metadata": {
                    "title": tool_title(event.name, "pending"),
                    "id": event.call_id,
                    "status": "pending",
                },
            }
        )
    elif isinstance(event, ToolFinished):
        step = next(
            (m for m in reversed(history) if (m.get("metadata") or {}).get("id") == event.call_id),
            None,
        )
        body = f"Result:\n{_pretty(event.content)}"
        if step is None:
            step = {"role": "assistant", "content": "", "metadata": {"id": event.call_id}}
            history.append(step)
        step["content"] = f"{step['content']}\n\n{body}".strip()
        title = tool_title(event.name, event.status)
        summary = result_summary(event.content) if event.status != "error" else ""
        step["metadata"].update(title=f"{title}: {summary}" if summary else title, status="done")
        for art in event.artifacts:
            if art.get("kind") == "image":
                shown = session_dir / art["path"]
                history.append(image_message("assistant", shown, art.get("caption", "")))
    elif isinstance(event, Notice):
        history.append(
            {
                "role": "assistant",
                "content": event.text,
                "metadata": {"title": "Note", "status": "done"},
            }
        )
    elif isinstance(event, TurnDone) and event.incomplete:  # never shown as complete
        answer = next(
            (m for m in reversed(history) if m["role"] == "assistant" and not m.get("metadata")),
            None,
        )
        if answer is not None and isinstance(answer["content"], str):
            answer["content"] = f"{answer['content']} (incomplete: {event.incomplete})".strip()
    elif isinstance(event, AnswerReviewed):
        history.append(review_message(event.summary, event.marks, show_marks))
    elif isinstance(event, TurnFailed):
        history.append({"role": "assistant", "content": f"⚠️ {event.message}"})


def review_message(summary: str, marks: list[tuple[str, str]], show_marks: bool) -> ChatMessage:
    """The line under an answer naming its tools, and the sentences its results do not back."""
    text = f"*{summary}*"
    if marks and show_marks:
        listed = "\n".join(f"- “{sentence}” — {problem}" for sentence, problem in marks)
        text += f"\n\n⚠️ **Not backed by this session's results:**\n{listed}"
    return {"role": "assistant", "content": text, "metadata": {"id": "review", "status": "done"}}


def shown_inline(att: Attachment) -> bool:
    """Whether the chat shows the upload as a picture (a slide is a file: named, not drawn)."""
    return att.media_type.startswith("image/") and not att.kind.is_slide


def from_messages(
    messages: list[AnyMessage],
    attachments: dict[str, Attachment],
    session_dir: Path,
    show_marks: bool = True,
) -> list[ChatMessage]:
    """Rebuild the chat view of a stored session."""
    out: list[ChatMessage] = []
    for msg in messages:
        if isinstance(msg, HumanMessage):
            if msg.additional_kwargs.get(SYNTHETIC_KEY):
                continue
            for image_id in msg.additional_kwargs.get(ATTACHMENTS_KEY, []):
                att = attachments.get(image_id)
                if att is not None and shown_inline(att):
                    out.append(image_message("user", att.path, att.name))
                elif att is not None:
                    out.append({"role": "user", "content": f"📎 {att.name} ({att.id})"})
            if msg.content:
                out.append({"role": "user", "content": str(msg.content)})
        elif isinstance(msg, AIMessage):
            for call in msg.tool_calls:
                apply_event(
                    out, ToolStarted(call["id"] or "", call["name"], call["args"]), session_dir
                )
            cut = msg.additional_kwargs.get(INCOMPLETE_KEY)  # never shown as complete
            if msg.content or cut:
                mark = f" (incomplete: {cut})" if cut else ""
                out.append({"role": "assistant", "content": f"{msg.content}{mark}".strip()})
            review = msg.additional_kwargs.get(REVIEW_KEY)
            if review:
                checked = AnswerReview.model_validate(review)
                marks = [(m.sentence, m.problem) for m in checked.marks]
                out.append(review_message(checked.summary(), marks, show_marks))
        elif isinstance(msg, ToolMessage):
            artifacts = msg.artifact if isinstance(msg.artifact, list) else []
            apply_event(
                out,
                ToolFinished(
                    msg.tool_call_id, msg.name or "tool", msg.status, str(msg.content), artifacts
                ),
                session_dir,
            )

    return out
