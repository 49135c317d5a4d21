"""The `search_knowledge` tool: passages from the knowledge base, with citation ids.

Which base it searches comes from ``ctx.settings["knowledge_dir"]``; bases are opened
once per process and shared by sessions (reads are thread-safe, the embedder is loaded on
first use).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from assistant.errors import ToolError
from retrieval.config import load_retrieval_config
from retrieval.knowledge import KnowledgeBase
from retrieval.types import Filters, Hit, Modality, Section
from tools.registry import ImageId, ToolArgs, ToolContext, ToolResult

__all__ = [
    "KNOWLEDGE_DIR_KEY",
    "Passage",
    "SearchKnowledgeArgs",
    "SearchKnowledgeResult",
    "close_knowledge_bases",
    "open_knowledge_base",
    "search_knowledge",
]

KNOWLEDGE_DIR_KEY = "knowledge_dir"
"""Key of `ToolContext.settings` naming the knowledge-base folder."""

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


def open_knowledge_base(folder: Path) -> KnowledgeBase:
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
            kb = _OPEN[key] = KnowledgeBase(key, load_retrieval_config())
        return kb


def close_knowledge_bases() -> None:
    """Close every shared knowledge base (at shutdown, and between tests)."""
    with _OPEN_LOCK:
        for kb in [*_OPEN.values(), *_RETIRED]:
            kb.close()
        _OPEN.clear()
        _RETIRED.clear()


def _knowledge_dir(settings: Any) -> Path:
    folder = settings.get(KNOWLEDGE_DIR_KEY)
    if not folder:
        raise ToolError(
            "no knowledge base is configured for this assistant, so nothing can be searched; "
            "answer from the conversation and the tool results instead"
        )
    return Path(folder)


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
    kb = open_knowledge_base(_knowledge_dir(ctx.settings))
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
