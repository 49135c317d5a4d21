"""Turn the stored LangChain messages into OpenAI chat messages for one model profile.

Images travel as references in the state and are rendered only here, as `image_url`
parts for models that take images and as a text note for those that do not. Tool
results go back as `tool` messages for native tool-calling models and as user messages
for the others (whose chat templates may not know the tool role).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage

from assistant.config import ModelProfile
from assistant.llm import Message
from tools.attachments import Attachment
from tools.errors import InputError
from tools.imaging.render import render_png
from tools.intake import preview_png

ATTACHMENTS_KEY = "attachments"
ARTIFACTS_KEY = "artifact_paths"
SYNTHETIC_KEY = "synthetic"
DIRECT_TOOL_KEY = "direct_tool"
"""On a HumanMessage recording that the person ran a tool themselves (its name)."""


def _image_part(png: bytes) -> dict[str, Any]:
    data = base64.b64encode(png).decode("ascii")
    return {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}}


def _human(
    msg: HumanMessage,
    profile: ModelProfile,
    attachments: Mapping[str, Attachment],
    session_dir: Path,
) -> Message:
    text = msg.content if isinstance(msg.content, str) else str(msg.content)
    ids: list[str] = list(msg.additional_kwargs.get(ATTACHMENTS_KEY, []))
    artifacts: list[str] = list(msg.additional_kwargs.get(ARTIFACTS_KEY, []))
    known = [attachments[i] for i in ids if i in attachments]
    notes = [f"[attached {a.id}: {a.name}]" for a in known]
    if notes:
        text = f"{text}\n" + " ".join(notes) if text else " ".join(notes)
    if not profile.vision or not (known or artifacts):
        return {"role": "user", "content": text}
    parts: list[dict[str, Any]] = [{"type": "text", "text": text}]
    for att in known:
        try:
            # a slide's thumbnail (never decoded whole), else the default frame (a
            # series' middle slice)
            png = preview_png(att, profile.image_max_side, ct_windows_rgb=profile.ct_windows_rgb)
            parts.append(_image_part(png))
        except InputError as exc:
            # e.g. a gigapixel slide: the model reads it through the slide tools instead.
            parts[0]["text"] += f"\n[{att.id} cannot be shown whole ({exc}); use the tools]"
    side = profile.image_max_side
    parts += [_image_part(render_png(session_dir / p, side)) for p in artifacts]
    return {"role": "user", "content": parts}


def to_openai(
    history: Sequence[AnyMessage],
    profile: ModelProfile,
    attachments: Mapping[str, Attachment],
    session_dir: Path,
    system: str,
    *,
    show_actions: bool = True,
) -> list[Message]:
    """Convert history for `profile`, preceded by the `system` prompt.

    With `show_actions` False (used for written answers of constrained-mode models),
    earlier JSON actions are left out so the model does not imitate them; their results
    still appear.
    """
    native = profile.tool_calling == "native"
    answered = {m.tool_call_id for m in history if isinstance(m, ToolMessage)}
    out: list[Message] = [{"role": "system", "content": system}]
    for msg in history:
        if isinstance(msg, HumanMessage):
            if msg.additional_kwargs.get(SYNTHETIC_KEY) and not profile.vision:
                continue
            out.append(_human(msg, profile, attachments, session_dir))
        elif isinstance(msg, AIMessage):
            calls = [c for c in msg.tool_calls if c["id"] in answered]
            text = msg.content if isinstance(msg.content, str) else str(msg.content)
            if native and calls:
                out.append(
                    {
                        "role": "assistant",
                        "content": text or None,
                        "tool_calls": [
                            {
                                "id": c["id"],
                                "type": "function",
                                "function": {"name": c["name"], "arguments": json.dumps(c["args"])},
                            }
                            for c in calls
                        ],
                    }
                )
            elif calls and show_actions:
                actions = [json.dumps({"tool": c["name"], "arguments": c["args"]}) for c in calls]
                out.append({"role": "assistant", "content": "\n".join(actions)})
            elif text:
                out.append({"role": "assistant", "content": text})
        elif isinstance(msg, ToolMessage):
            content = msg.content if isinstance(msg.content, str) else json.dumps(msg.content)
            if native:
                out.append({"role": "tool", "tool_call_id": msg.tool_call_id, "content": content})
            else:
                label = "error" if msg.status == "error" else "result"
                out.append({"role": "user", "content": f"Tool {label} ({msg.name}): {content}"})
    out = out if native else _merge_consecutive_users(out)
    return _keep_newest_images(out, profile.max_images_per_request)


def _keep_newest_images(messages: list[Message], limit: int) -> list[Message]:
    """Replace all but the newest `limit` images with a note (servers cap images per prompt)."""
    seen = 0
    for msg in reversed(messages):
        if not isinstance(msg.get("content"), list):
            continue
        parts = []
        for part in reversed(msg["content"]):
            if part.get("type") == "image_url":
                seen += 1
                if seen > limit:
                    part = {"type": "text", "text": "[earlier image omitted]"}
            parts.append(part)
        msg["content"] = list(reversed(parts))
    return messages


def _merge_consecutive_users(messages: list[Message]) -> list[Message]:
    """Join adjacent plain-text user messages; some chat templates reject repeats."""
    merged: list[Message] = []
    for msg in messages:
        prev = merged[-1] if merged else None
        if (
            prev is not None
            and prev["role"] == msg["role"] == "user"
            and isinstance(prev["content"], str)
            and isinstance(msg["content"], str)
        ):
            prev["content"] = f"{prev['content']}\n\n{msg['content']}"
        else:
            merged.append(dict(msg))
    return merged
