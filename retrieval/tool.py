"""The `search_knowledge` tool: passages from the knowledge base, with citation ids.

Which base it searches comes from the `KnowledgeSource` in the tool context (the
assistant puts one there from its configuration); bases are opened once per process and
shared by sessions (reads are thread-safe, the embedder is loaded on first use).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, Field

from retrieval.config import RetrievalConfig
from retrieval.knowledge import KnowledgeBase
from retrieval.types import Filters, Hit, Modality, Section
from tools.errors import ToolError
from tools.registry import ImageId, ToolArgs, ToolContext, ToolResult

__all__ = [
    "KnowledgeSource",
    "Passage",
    "SearchKnowledgeArgs",
    "SearchKnowledgeResult",
    "close_knowledge_bases",
    "open_knowledge_base",
    "search_knowledge",
]



@dataclass(frozen=True)
class KnowledgeSource:
    """Which knowledge base `search_knowledge` reads, and how (a `ToolContext` dependency)."""

    folder: Path | None
    config: RetrievalConfig = field(default_factory=RetrievalConfig)

_OPEN: dict[Path, KnowledgeBase] = {}
_RETIRED: list[KnowledgeBase] = []
_OPEN_LOCK = threading.Lock()


class SearchKnowledgeArgs(ToolArgs):
    """Arguments of search_knowledge."""

    query: str = Field(
        min_length=1,
        max_length=500,
        description="What to look for, in a few words, e.g. 'small left pleural effusion'.",
    )
    section: Section | None = Field(
        default=None, description="Only passages from this report section."
    )
    modality: Modality | None = Field(
        default=None, description="Only passages about this modality."
    )
    image_id: ImageId | None = Field(
        default=None, description="Optional attached image: also find reference cases like it."
    )
    k: int = Field(default=5, ge=1, le=10, description="How many passages to return.")


class Passage(BaseModel):
    """One retrieved passage; cite it by `citation_id`."""

    citation_id: str
    text: str
    source: str
    section: Section
    title: str = ""
    modality: Modality | None = None
    date: str | None = None
    match: str = Field(description="Which search found it: text, image or both.")


class SearchKnowledgeResult(ToolResult):
    """What search_knowledge returns."""

    query: str
    passages: list[Passage]
    note: str | None = None


def open_knowledge_base(folder: Path, config: RetrievalConfig | None = None) -> KnowledgeBase:
    """Return the shared knowledge base in `folder`, opening it on first use."""
    key = folder.resolve()
    with _OPEN_LOCK:
        kb = _OPEN.get(key)
        if kb is not None and kb.is_stale():  # updated by `medassist index` meanwhile
            _RETIRED.append(kb)  # a search may still be using it: close at shutdown
            kb = None
        if kb is None:
            if not (key / "meta.sqlite").is_file():
                raise ToolError(
                    f"there is no knowledge base in {folder}; build one with "
                    f"`medassist index build SOURCE_FOLDER --kb {folder}`"
                )
            kb = _OPEN[key] = KnowledgeBase(key, config or RetrievalConfig())
        return kb


def close_knowledge_bases() -> None:
    """Close every shared knowledge base (at shutdown, and between tests)."""
    with _OPEN_LOCK:
        for kb in [*_OPEN.values(), *_RETIRED]:
            kb.close()
        _OPEN.clear()
        _RETIRED.clear()


def _open(ctx: ToolContext) -> KnowledgeBase:
    try:
        source = ctx.get(KnowledgeSource)
    except ToolError:
        source = KnowledgeSource(None)
    if source.folder is None:
        raise ToolError(
            "no knowledge base is configured for this assistant, so nothing can be searched; "
            "answer from the conversation and the tool results instead"
        )
    return open_knowledge_base(source.folder, source.config)


def _passage(hit: Hit, match: str) -> Passage:
    c = hit.chunk
    return Passage(
        citation_id=c.citation_id,
        text=c.text,
        source=c.source,
        section=c.section,
        title=c.title,
        modality=c.modality,
        date=c.date,
        match=match,
    )


def search_knowledge(args: SearchKnowledgeArgs, ctx: ToolContext) -> SearchKnowledgeResult:
    """Search the knowledge base (reference reports, guidelines, teaching notes).

    Give a short query such as 'left pleural effusion'; optionally a report section or
    modality to filter by, or an image_id to also find similar reference cases. Each
    passage has a citation_id (like kb-1a2b3c4d5e): cite it for every statement based
    on that passage.
    """
    kb = _open(ctx)
    filters = Filters(modality=args.modality, section=args.section)
    passages = [_passage(h, "text") for h in kb.search(args.query, args.k, filters=filters)]
    notes: list[str] = []
    if args.image_id is not None:
        image = ctx.attachment(args.image_id).path
        if kb.image_embedder is None:
            notes.append(
                "No image encoder is configured, so the image was not used; "
                "these passages match the text query only."
            )
        else:
            by_id = {p.citation_id: p for p in passages}
            for hit in kb.search_image(image, args.k, filters):
                found = by_id.get(hit.chunk.citation_id)
                if found is not None:
                    found.match = "both"
                else:
                    passages.append(_passage(hit, "image"))
    if not passages:
        notes.append("No passage matched; try other words or remove the filters.")
    return SearchKnowledgeResult(query=args.query, passages=passages, note=" ".join(notes) or None)
