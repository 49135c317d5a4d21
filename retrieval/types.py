"""Domain types of the knowledge base: sections, modalities, index kinds, chunks, hits."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal


class Section(StrEnum):
    """Report section a passage comes from; 'body' is text outside report sections."""

    COMPARISON = "comparison"
    INDICATION = "indication"
    TECHNIQUE = "technique"
    FINDINGS = "findings"
    IMPRESSION = "impression"
    RECOMMENDATIONS = "recommendations"
    BODY = "body"
    """Anything that is not a report section: guideline text, teaching notes, PDF pages."""


class Modality(StrEnum):
    """Imaging modality or specimen type a document is about."""

    XRAY = "xray"
    CT = "ct"
    MRI = "mri"
    ULTRASOUND = "ultrasound"
    PATHOLOGY = "pathology"
    OTHER = "other"


class IndexKind(StrEnum):
    """FAISS index family: exact, graph (HNSW) or compressed inverted lists (IVF-PQ)."""

    AUTO = "auto"
    FLAT = "flat"
    HNSW = "hnsw"
    IVFPQ = "ivfpq"


SearchMode = Literal["hybrid", "dense", "bm25"]
"""How to rank: BM25 + dense fused by reciprocal rank, or one of them alone."""

DocKind = Literal["report", "document", "case"]
"""A report (sectioned), a guideline/teaching document, or a reference case (image + report)."""


@dataclass(frozen=True)
class Document:
    """One ingested source document, split into named sections (text in reading order)."""

    source: str
    kind: DocKind
    sections: tuple[tuple[Section, str], ...]
    title: str = ""
    modality: Modality | None = None
    date: str | None = None
    image_path: str | None = None
    doc_key: str = ""
    """Distinguishes several documents from one file (JSONL line, XML report id, PDF page)."""


@dataclass(frozen=True)
class Chunk:
    """A retrievable passage with its metadata; `citation_id` is stable across rebuilds."""

    citation_id: str
    text: str
    source: str
    section: Section
    kind: DocKind
    title: str = ""
    modality: Modality | None = None
    date: str | None = None
    image_path: str | None = None
    doc_key: str = ""
    position: int = 0


@dataclass(frozen=True)
class Filters:
    """Metadata filters; None means any value."""

    modality: Modality | None = None
    section: Section | None = None
    kind: DocKind | None = None

    def match(self, chunk: Chunk) -> bool:
        """Whether `chunk` passes every set filter."""
        return (
            (self.modality is None or chunk.modality == self.modality)
            and (self.section is None or chunk.section == self.section)
            and (self.kind is None or chunk.kind == self.kind)
        )

    @property
    def empty(self) -> bool:
        """True when no filter is set."""
        return self.modality is None and self.section is None and self.kind is None


@dataclass(frozen=True)
class Hit:
    """A search result: the chunk, its fused score and the rank it got from each ranker."""

    chunk: Chunk
    score: float
    ranks: dict[str, int] = field(default_factory=dict)
