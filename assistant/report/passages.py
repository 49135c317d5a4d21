"""Reference passages for a draft: the knowledge base searched with what was measured.

A session may never have called `search_knowledge`; the draft still offers the model
passages about what the tools measured (the template's title plus the structures and
targets in the tool results), cited by their stable ids like any retrieved passage.
"""

from __future__ import annotations

from collections.abc import Sequence

from assistant.report.evidence import Evidence
from assistant.report.templates import ReportTemplate
from retrieval.tool import KnowledgeSource, open_knowledge_base
from tools.errors import ToolError

__all__ = ["PASSAGES", "draft_query", "related_passages"]

PASSAGES = 3
"""Passages offered per draft, besides those the session retrieved itself."""
_TERMS = 8


def draft_query(template: ReportTemplate, evidence: Sequence[Evidence]) -> str:
    """Words for the search: the report's title and the names of what was measured."""
    words: list[str] = [template.title.removesuffix(" report")]
    for e in evidence:
        if e.kind != "tool" or not isinstance(e.data, dict):
            continue
        target = e.data.get("target")
        if isinstance(target, str):
            words.append(target.replace("_", " "))
        for s in e.data.get("structures", [])[:3]:
            if isinstance(s, dict) and isinstance(s.get("name"), str):
                words.append(s["name"].replace("_", " "))
    return " ".join(dict.fromkeys(words[: _TERMS + 1]))


def related_passages(
    source: KnowledgeSource | None,
    template: ReportTemplate,
    evidence: Sequence[Evidence],
    k: int = PASSAGES,
) -> list[dict[str, str]]:
    """Passages of the configured knowledge base about the draft (none without one)."""
    if source is None or source.folder is None or k <= 0:
        return []
    try:
        kb = open_knowledge_base(source.folder, source.config)
    except ToolError:  # no index built: the draft cites the session's evidence only
        return []
    return [
        {
            "citation_id": h.chunk.citation_id,
            "text": h.chunk.text,
            "source": h.chunk.source,
            "section": h.chunk.section.value,
        }
        for h in kb.search(draft_query(template, evidence), k)
    ]
