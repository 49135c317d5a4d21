"""System prompts. The tool catalogue is generated from the registry, never written by hand."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from assistant.actions import ANSWER, arguments_schema
from tools.attachments import Attachment
from tools.registry import Tool

PERSONA = (
    "You are MedAssist, an assistant for radiologists and pathologists. You help read "
    "medical images, but you are not a doctor: say what the evidence shows and what it "
    "does not, and never invent measurements. Base every statement on tool results or "
    "what the user said."
)


def _type_name(spec: dict[str, Any]) -> str:
    if "enum" in spec:
        return "|".join(json.dumps(v) for v in spec["enum"])
    if "const" in spec:
        return json.dumps(spec["const"])
    if "anyOf" in spec:
        names = [_type_name(s) for s in spec["anyOf"] if s.get("type") != "null"]
        return "|".join(dict.fromkeys(names)) or "null"
    kind = spec.get("type", "value")
    if kind == "array" and isinstance(spec.get("items"), dict):
        return f"{_type_name(spec['items'])}[]"
    return str(kind)


def _signature(tool: Tool, image_ids: Sequence[str]) -> str:
    schema = arguments_schema(tool, image_ids)
    props: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    params = ", ".join(
        f"{name}{'' if name in required else '?'}: {_type_name(spec)}"
        for name, spec in props.items()
    )
    return f"{tool.name}({params})"


def tool_catalogue(tools: Sequence[Tool], image_ids: Sequence[str]) -> str:
    """One entry per tool: signature, then its description."""
    if not tools:
        return "(no tools are usable right now)"
    return "\n".join(
        f"- {_signature(t, image_ids)}: {' '.join(t.description.split())}" for t in tools
    )


def attachment_list(attachments: Sequence[Attachment]) -> str:
    """Lines naming the session's attachments, for the model."""
    if not attachments:
        return "No images are attached yet."
    return "Attached: " + "; ".join(f"{a.id} = {a.name}" for a in attachments) + "."


def action_prompt(tools: Sequence[Tool], attachments: Sequence[Attachment]) -> str:
    """System prompt for choosing the next action as JSON."""
    ids = [a.id for a in attachments]
    return (
        f"{PERSONA}\n\nTools:\n{tool_catalogue(tools, ids)}\n\n{attachment_list(attachments)}\n\n"
        'Decide the next step. Reply with JSON only: {"tool": NAME, "arguments": {...}} to '
        f'call a tool, or {{"tool": "{ANSWER}"}} when you can answer the user. Call a tool '
        "when the answer needs facts about an image that you do not have yet."
    )


def answer_prompt(tools: Sequence[Tool], attachments: Sequence[Attachment]) -> str:
    """System prompt for writing the answer to the user."""
    names = ", ".join(t.name for t in tools) or "none"
    return (
        f"{PERSONA}\n\n{attachment_list(attachments)} Tools you can use: {names}.\n"
        "Answer the user's last message directly and briefly, using the tool results above."
    )


def native_prompt(attachments: Sequence[Attachment]) -> str:
    """System prompt for models with native function calling (tools go in the API call)."""
    return f"{PERSONA}\n\n{attachment_list(attachments)} Use the tools when you need facts."
