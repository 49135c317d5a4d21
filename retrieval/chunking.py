"""Split documents into passages that keep report sections whole.

A section (findings, impression…) becomes one chunk unless it is longer than
`max_words`; only then is it split, at sentence boundaries, into consecutive chunks.
Chunks never straddle two sections, so a retrieved impression is an impression.
"""

from __future__ import annotations

import re

from retrieval.store import citation_id
from retrieval.types import Chunk, Document, Section

__all__ = ["chunk_document", "section_for_heading", "split_sections", "split_sentences"]

_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|(?<=[。！？])")
_HEADING = re.compile(
    r"^[ \t]*(?P<name>findings|impressions?|indications?|clinical history|history|"
    r"comparisons?|technique|recommendations?|conclusions?)[ \t]*:[ \t]*",
    re.IGNORECASE | re.MULTILINE,
)
_HEADING_TO_SECTION = {
    "finding": Section.FINDINGS,
    "impression": Section.IMPRESSION,
    "conclusion": Section.IMPRESSION,
    "indication": Section.INDICATION,
    "clinical history": Section.INDICATION,
    "history": Section.INDICATION,
    "comparison": Section.COMPARISON,
    "technique": Section.TECHNIQUE,
    "recommendation": Section.RECOMMENDATIONS,
}


def section_for_heading(name: str) -> Section | None:
    """Map a heading such as 'Findings' or 'IMPRESSION' to its Section (None if unknown)."""
    key = name.strip().lower()
    for prefix, section in _HEADING_TO_SECTION.items():
        if key.startswith(prefix):
            return section
    return None


def split_sections(text: str) -> list[tuple[Section, str]]:
    """Split report text at 'FINDINGS:'-style headings; text before them is BODY."""
    parts: list[tuple[Section, str]] = []
    matches = list(_HEADING.finditer(text))
    head = text[: matches[0].start()] if matches else text
    if head.strip():
        parts.append((Section.BODY, head.strip()))
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        body = text[match.end() : end].strip()
        section = section_for_heading(match.group("name")) or Section.BODY
        if body:
            parts.append((section, body))
    return parts


def split_sentences(text: str) -> list[str]:
    """Sentences of `text` (Latin and CJK punctuation), whitespace-trimmed, non-empty."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def _pieces(text: str, max_words: int) -> list[str]:
    """Group whole sentences into pieces of at most `max_words` words (cutting long ones)."""
    if len(text.split()) <= max_words and len(text) <= max_words * 12:
        return [text]
    out: list[str] = []
    current: list[str] = []
    size = 0
    for sentence in split_sentences(text):
        words = sentence.split()
        # A sentence without spaces (CJK) is measured in characters / 4.
        n = len(words) if len(words) > 1 else max(1, len(sentence) // 4)
        if n > max_words:
            if current:
                out.append(" ".join(current))
                current, size = [], 0
            if len(words) > 1:
                out.extend(
                    " ".join(words[i : i + max_words]) for i in range(0, len(words), max_words)
                )
            else:
                step = max_words * 4
                out.extend(sentence[i : i + step] for i in range(0, len(sentence), step))
            continue
        if size + n > max_words and current:
            out.append(" ".join(current))
            current, size = [], 0
        current.append(sentence)
        size += n
    if current:
        out.append(" ".join(current))
    return out


def chunk_document(doc: Document, max_words: int = 200) -> list[Chunk]:
    """Chunks of `doc`, in reading order, with stable citation ids."""
    chunks: list[Chunk] = []
    for section, text in doc.sections:
        clean = " ".join(text.split())
        if not clean:
            continue
        for piece in _pieces(clean, max_words):
            position = len(chunks)
            chunks.append(
                Chunk(
                    citation_id=citation_id(
                        doc.source, doc.doc_key, section.value, position, piece
                    ),
                    text=piece,
                    source=doc.source,
                    section=section,
                    kind=doc.kind,
                    title=doc.title,
                    modality=doc.modality,
                    date=doc.date,
                    image_path=doc.image_path,
                    doc_key=doc.doc_key,
                    position=position,
                )
            )
    return chunks
