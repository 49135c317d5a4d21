"""Tool choice for any model: JSON-schema actions (constrained decoding) or native tools.

Both are built from the registry and narrowed to the session (tools/narrowing.py): image
ids are the real ones, and each image's arguments are those its kind allows (targets
that fit, frames that exist, no box unless one was drawn), so even a tiny model can only
produce calls that make sense for the image.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from assistant.llm import ToolCall
from assistant.state import AgentContext
from tools.errors import ToolArgumentError
from tools.narrowing import Drawn, Scope, narrow_refs, narrowed_schema
from tools.registry import Tool

__all__ = [
    "ANSWER",
    "action_schema",
    "arguments_schema",
    "native_tools",
    "parse_action",
    "scope_of",
    "usable",
]

ANSWER = "answer"
"""The action that ends tool use and hands over to the written answer."""


def scope_of(ctx: AgentContext, drawn: Sequence[Drawn] = ()) -> Scope:
    """The narrowing scope of a run: its attachments, backends configured, what was drawn."""
    return Scope.of(ctx.attachments.values(), ctx.tool_deps, drawn)


def _strip_titles(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _strip_titles(v) for k, v in schema.items() if k != "title"}
    if isinstance(schema, list):
        return [_strip_titles(v) for v in schema]
    return schema


def _closed(schema: dict[str, Any]) -> dict[str, Any]:
    """An object schema that allows no other keys (each anyOf branch too)."""
    if "anyOf" in schema:
        return {"type": "object", "anyOf": [_closed(b) for b in schema["anyOf"]]}
    schema.setdefault("properties", {})
    schema["additionalProperties"] = False
    return schema


PERSON_ONLY = ("microns_per_pixel", "center", "width")
"""Numbers a model cannot read off the image or its header (a microscope's scale, an
explicit window): the person gives them in the tool's form; the model gets presets and
the image's own scale. A tiny model otherwise fills them with the schema's bounds."""


def _without_person_only(schema: dict[str, Any]) -> dict[str, Any]:
    if "anyOf" in schema:
        return {**schema, "anyOf": [_without_person_only(b) for b in schema["anyOf"]]}
    props = {k: v for k, v in schema.get("properties", {}).items() if k not in PERSON_ONLY}
    required = [r for r in schema.get("required", []) if r not in PERSON_ONLY]
    return {**schema, "properties": props, "required": required}


def arguments_schema(tool: Tool, scope: Scope, *, forced: bool = False) -> dict[str, Any] | None:
    """The tool's argument schema as the model sees it; None when it fits no image.

    A `forced` tool (the person chose it) that fits nothing keeps its ids-only schema, so
    the call still happens and the tool itself explains why it does not apply.
    """
    narrowed = narrowed_schema(tool, scope)
    if narrowed is None:
        if not forced:
            return None
        narrowed = narrow_refs(tool.parameters_schema(), scope.ids)
    return _closed(_without_person_only(_strip_titles(narrowed)))


def usable(tools: Sequence[Tool], scope: Scope) -> list[Tool]:
    """The tools that fit something in the session (or need no image)."""
    return [t for t in tools if narrowed_schema(t, scope) is not None]


def action_schema(
    tools: Sequence[Tool], scope: Scope, *, allow_answer: bool = True
) -> dict[str, Any]:
    """JSON schema of one action: a call of one of `tools`, or (if allowed) `answer`.

    Without `allow_answer` the tools are forced (the person chose them) and kept even
    where narrowing finds they fit nothing.
    """
    options: list[dict[str, Any]] = []
    for t in tools:
        arguments = arguments_schema(t, scope, forced=not allow_answer)
        if arguments is None:
            continue
        options.append(
            {
                "type": "object",
                "properties": {"tool": {"const": t.name}, "arguments": arguments},
                "required": ["tool", "arguments"],
                "additionalProperties": False,
            }
        )
    if allow_answer or not options:
        options.append(
            {
                "type": "object",
                "properties": {"tool": {"const": ANSWER}},
                "required": ["tool"],
                "additionalProperties": False,
            }
        )
    return options[0] if len(options) == 1 else {"anyOf": options}


def parse_action(text: str) -> ToolCall | None:
    """Parse a constrained action; None means `answer`. Bad JSON is a ToolArgumentError."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ToolArgumentError(
            f"the action was not valid JSON ({exc.msg}): {text[:200]!r}"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("tool"), str):
        raise ToolArgumentError(f"the action must be an object with a 'tool' field: {text[:200]!r}")
    if data["tool"] == ANSWER:
        return None
    arguments = data.get("arguments", {})
    return ToolCall(
        id=f"call_{uuid.uuid4().hex[:12]}", name=data["tool"], arguments=json.dumps(arguments)
    )


def native_tools(
    tools: Sequence[Tool], scope: Scope, *, forced: bool = False
) -> list[dict[str, Any]]:
    """OpenAI `tools` entries for models trained for function calling."""
    out = []
    for t in tools:
        parameters = arguments_schema(t, scope, forced=forced)
        if parameters is None:
            continue
        out.append(
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": parameters,
                },
            }
        )
    return out
