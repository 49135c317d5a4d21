"""Fixtures: small generated corpora, knowledge bases with the hashing embedder, MiniLM."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from retrieval.config import RetrievalConfig
from retrieval.embeddings import Embedder, HashingEmbedder, SentenceTransformerEmbedder
from retrieval.knowledge import KnowledgeBase
from retrieval.types import Document, Modality, Section

REPORTS = [
    ("Large left pleural effusion with adjacent atelectasis.", "Left pleural effusion."),
    ("Heart size normal. Lungs are clear.", "No acute cardiopulmonary disease."),
    ("Right upper lobe consolidation.", "Right upper lobe pneumonia."),
    ("Small right pneumothorax at the apex.", "Right apical pneumothorax."),
    ("Cardiomegaly with pulmonary vascular congestion.", "Congestive heart failure."),
]


def report_docs() -> list[Document]:
    """Five sectioned chest X-ray reports."""
    return [
        Document(
            source=f"reports/r{i}.txt",
            kind="report",
            sections=((Section.FINDINGS, findings), (Section.IMPRESSION, impression)),
            modality=Modality.XRAY,
        )
        for i, (findings, impression) in enumerate(REPORTS)
    ]


def guideline_doc() -> Document:
    """A non-report document about CT."""
    return Document(
        source="guides/ct.md",
        kind="document",
        sections=((Section.BODY, "Pulmonary embolism is assessed on CT angiography."),),
        modality=Modality.CT,
    )


KBFactory = Callable[..., KnowledgeBase]


@pytest.fixture
def open_kb(tmp_path: Path) -> Iterator[KBFactory]:
    """Open knowledge bases (hashing embedder unless given); closes them afterwards."""
    opened: list[KnowledgeBase] = []

    def _open(
        folder: Path | None = None,
        config: RetrievalConfig | None = None,
        embedder: Embedder | None = None,
        **kw: Any,
    ) -> KnowledgeBase:
        kb = KnowledgeBase(
            folder or tmp_path / "kb", config, embedder=embedder or HashingEmbedder(64), **kw
        )
        opened.append(kb)
        return kb

    yield _open
    for kb in opened:
        kb.close()


@pytest.fixture(scope="session")
def minilm() -> SentenceTransformerEmbedder:
    """The real all-MiniLM-L6-v2 from its wheel, loaded once per test session."""
    embedder = SentenceTransformerEmbedder()
    assert embedder.dim == 384
    return embedder


@pytest.fixture(autouse=True, scope="session")
def _single_threaded_faiss() -> Iterator[None]:
    """One OpenMP thread: OpenMP spin-waits badly on a shared, oversubscribed CPU."""
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)
