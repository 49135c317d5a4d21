"""Tool choice for any model: JSON-schema actions (constrained decoding) or native tools.

Both are built from the registry. Arguments that name an attachment are narrowed to the
ids that exist in the session, so even a tiny model can only produce valid references.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from assistant.llm import ToolCall
from tools.errors import ToolArgumentError
from tools.registry import IMAGE_REF_KEY, Tool

ANSWER = "answer"
"""The action that ends tool use and hands over to the written answer."""


def narrow_refs(schema: Any, image_ids: Sequence[str]) -> Any:
    """Replace every attachment-reference field with an enum of the real ids."""
    if isinstance(schema, dict):
        if schema.get(IMAGE_REF_KEY) == "image":
            out = {k: v for k, v in schema.items() if k != IMAGE_REF_KEY}
            out["enum"] = list(image_ids)
            return out
        if "anyOf" in schema and not image_ids:
            # An optional image argument with nothing attached: only its other branches.
            branches = [b for b in schema["anyOf"] if b.get(IMAGE_REF_KEY) != "image"]
            schema = {**schema, "anyOf": branches}
        return {k: narrow_refs(v, image_ids) for k, v in schema.items()}
    if isinstance(schema, list):
        return [narrow_refs(v, image_ids) for v in schema]
    return schema


def _strip_titles(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _strip_titles(v) for k, v in schema.items() if k != "title"}
    if isinstance(schema, list):
        return [_strip_titles(v) for v in schema]
    return schema


def arguments_schema(tool: Tool, image_ids: Sequence[str]) -> dict[str, Any]:
    """The tool's argument schema as the model sees it."""
    schema = narrow_refs(_strip_titles(tool.parameters_schema()), image_ids)
    schema.setdefault("properties", {})
    schema["additionalProperties"] = False
    return dict(schema)


def action_schema(
    tools: Sequence[Tool], image_ids: Sequence[str], *, allow_answer: bool = True
) -> dict[str, Any]:
    """JSON schema of one action: a call of one of `tools`, or (if allowed) `answer`."""
    options: list[dict[str, Any]] = [
        {
            "type": "object",
            "properties": {
                "tool": {"const": t.name},
                "arguments": arguments_schema(t, image_ids),
            },
            "required": ["tool", "arguments"],
            "additionalProperties": False,
        }
        for t in tools
    ]
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


def native_tools(tools: Sequence[Tool], image_ids: Sequence[str]) -> list[dict[str, Any]]:
    """OpenAI `tools` entries for models trained for function calling."""
    return [
        {
            "type": "function",
            "function": {
                "name": t.name,
                "description": t.description,
                "parameters": arguments_schema(t, image_ids),
            },
        }
        for t in tools
    ]
