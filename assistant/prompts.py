"""System prompts. The tool catalogue is generated from the registry, never written by hand.

Signatures are the narrowed schemas the model is constrained to (assistant/actions.py), so
the prompt never offers what the image rules out (nuclei on a chest X-ray, a box nobody
drew, frame 7 of a 1-frame file).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from assistant.actions import ANSWER, arguments_schema, usable
from tools.attachments import Attachment
from tools.narrowing import Scope
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


def _params(name: str, schema: dict[str, Any]) -> str:
    props: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    params = ", ".join(
        f"{key}{'' if key in required else '?'}: {_type_name(spec)}" for key, spec in props.items()
    )
    return f"{name}({params})"


def _signature(tool: Tool, scope: Scope, forced: bool) -> str | None:
    """`name(arg: type, ...)`, one form per group of images narrowed alike ("or")."""
    schema = arguments_schema(tool, scope, forced=forced)
    if schema is None:
        return None
    variants = schema.get("anyOf", [schema])
    return " or ".join(_params(tool.name, v) for v in variants)


def tool_catalogue(tools: Sequence[Tool], scope: Scope, *, forced: bool = False) -> str:
    """One entry per tool that fits the session (or is `forced`): signature, description."""
    lines = []
    for t in tools if forced else usable(tools, scope):
        signature = _signature(t, scope, forced)
        if signature is not None:
            lines.append(f"- {signature}: {' '.join(t.description.split())}")
    return "\n".join(lines) or "(no tools are usable right now)"


def _what(att: Attachment) -> str:
    facts = att.facts
    parts = [facts.image_class.value.replace("_", " ")] if facts.image_class else []
    parts += [facts.modality] if facts.modality else []
    if facts.width is not None and facts.frames > 1:
        parts.append(f"{facts.frames} frames")
    return f" ({', '.join(parts)})" if parts else ""


def attachment_list(attachments: Sequence[Attachment]) -> str:
    """Lines naming the session's attachments and what each one is, for the model."""
    if not attachments:
        return "No images are attached yet."
    return "Attached: " + "; ".join(f"{a.id} = {a.name}{_what(a)}" for a in attachments) + "."


def action_prompt(tools: Sequence[Tool], scope: Scope, *, forced: bool = False) -> str:
    """System prompt for choosing the next action as JSON (`forced`: the person chose)."""
    attachments = list(scope.attachments)
    return (
        f"{PERSONA}\n\nTools:\n{tool_catalogue(tools, scope, forced=forced)}\n\n"
        f"{attachment_list(attachments)}\n\n"
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
