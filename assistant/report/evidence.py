"""Evidence a report may cite: tool results, image facts and retrieved passages.

Tool results are LangChain `ToolMessage`s whose content is the tool's JSON. A
`search_knowledge` result is unpacked into its passages (cited by their stable ids, e.g.
``kb-1a2b3c4d5e``); every other successful tool result is one item ``T1``, ``T2`` … in
the order the tools ran. Failed tool calls are not evidence. The facts read from each
attachment's header at upload (modality, body part, size) are ``I1``, ``I2`` …
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from langchain_core.messages import BaseMessage, ToolMessage
from pydantic import BaseModel, Field

from tools.attachments import Attachment

__all__ = ["Evidence", "collect_evidence", "image_evidence", "passage_evidence"]

SEARCH_TOOL = "search_knowledge"
_SUMMARY_CHARS = 700
_DROP_KEYS = {"artifacts"}
_FACTS = ("modality", "body_part", "width", "height", "frames", "image_class", "image_class_by")


class Evidence(BaseModel):
    """One citable item."""

    id: str = Field(description="What sentences cite: T1, T2 … or a passage's citation id.")
    kind: Literal["tool", "passage", "image"]
    label: str = Field(description="Tool name, the passage's source and section, or the image.")
    text: str = Field(description="What the model is shown: a compact summary or the passage.")
    data: Any = Field(
        default=None, description="The whole tool result or image facts (JSON), unclipped."
    )
    tool_call_id: str | None = None
    source: str | None = None
    section: str | None = None


def _trim(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: v for k, v in data.items() if k not in _DROP_KEYS and v not in (None, [], "")}
    return data


def _compact(data: Any) -> str:
    data = _trim(data)
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= _SUMMARY_CHARS else text[: _SUMMARY_CHARS - 1] + "…"


def passage_evidence(passage: Mapping[str, Any] | BaseModel) -> Evidence:
    """Evidence for one retrieved passage (a `retrieval.tool.Passage` or its dict)."""
    data = passage.model_dump(mode="json") if isinstance(passage, BaseModel) else dict(passage)
    source, section = str(data.get("source", "")), str(data.get("section", ""))
    return Evidence(
        id=str(data["citation_id"]),
        kind="passage",
        label=f"{source} ({section})" if section else source,
        text=str(data.get("text", "")),
        source=source,
        section=section or None,
    )


def _from_tool_message(message: ToolMessage, number: int) -> list[Evidence]:
    content = message.content if isinstance(message.content, str) else json.dumps(message.content)
    try:
        data: Any = json.loads(content)
    except json.JSONDecodeError:
        data = content
    if message.name == SEARCH_TOOL and isinstance(data, dict):
        return [passage_evidence(p) for p in data.get("passages", [])]
    return [
        Evidence(
            id=f"T{number}",
            kind="tool",
            label=message.name or "tool",
            text=_compact(data),
            data=_trim(data),
            tool_call_id=message.tool_call_id,
        )
    ]


def image_evidence(attachments: Iterable[Attachment]) -> list[Evidence]:
    """One item per attachment with header facts: I1, I2 … (no names, ids or dates)."""
    out: list[Evidence] = []
    for att in attachments:
        facts = att.facts.model_dump(mode="json", exclude_none=True) if att.facts else {}
        facts = {k: v for k, v in facts.items() if k in _FACTS}
        if not any(facts.get(k) for k in ("modality", "body_part", "image_class")):
            continue
        data = {"image_id": att.id, "kind": str(att.kind), **facts}
        out.append(
            Evidence(
                id=f"I{len(out) + 1}",
                kind="image",
                label=f"image facts of {att.id}",
                text=_compact(data),
                data=data,
            )
        )
    return out


def collect_evidence(
    messages: Sequence[BaseMessage],
    passages: Iterable[Mapping[str, Any] | BaseModel] = (),
    attachments: Iterable[Attachment] = (),
) -> list[Evidence]:
    """All citable evidence of a conversation, its images and extra passages, no duplicates."""
    found: dict[str, Evidence] = {e.id: e for e in image_evidence(attachments)}
    number = 0
    for message in messages:
        if not isinstance(message, ToolMessage) or message.status == "error":
            continue
        items = _from_tool_message(message, number + 1)
        number += any(e.kind == "tool" for e in items)
        for item in items:
            found.setdefault(item.id, item)
    for passage in passages:
        item = passage_evidence(passage)
        found.setdefault(item.id, item)
    return list(found.values())
