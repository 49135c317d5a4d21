"""Evidence a report may cite: tool results from the conversation and retrieved passages.

Tool results are LangChain `ToolMessage`s whose content is the tool's JSON. A
`search_knowledge` result is unpacked into its passages (cited by their stable ids, e.g.
``kb-1a2b3c4d5e``); every other successful tool result is one item ``T1``, ``T2`` … in
the order the tools ran. Failed tool calls are not evidence.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from langchain_core.messages import BaseMessage, ToolMessage
from pydantic import BaseModel, Field

__all__ = ["Evidence", "collect_evidence", "passage_evidence"]

SEARCH_TOOL = "search_knowledge"
_SUMMARY_CHARS = 700
_DROP_KEYS = {"artifacts"}


class Evidence(BaseModel):
    """One citable item."""

    id: str = Field(description="What sentences cite: T1, T2 … or a passage's citation id.")
    kind: Literal["tool", "passage"]
    label: str = Field(description="Tool name, or the passage's source and section.")
    text: str = Field(description="What the model is shown: a compact summary or the passage.")
    tool_call_id: str | None = None
    source: str | None = None
    section: str | None = None


def _compact(data: Any) -> str:
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k not in _DROP_KEYS and v not in (None, [], "")}
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
            tool_call_id=message.tool_call_id,
        )
    ]


def collect_evidence(
    messages: Sequence[BaseMessage], passages: Iterable[Mapping[str, Any] | BaseModel] = ()
) -> list[Evidence]:
    """All citable evidence of a conversation plus extra passages, without duplicates."""
    found: dict[str, Evidence] = {}
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
