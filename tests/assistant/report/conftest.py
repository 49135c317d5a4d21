"""Fixtures: a conversation with tool results, and a small knowledge base."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from retrieval.embeddings import HashingEmbedder
from retrieval.knowledge import KnowledgeBase
from retrieval.types import Document, Modality, Section

MEASURE = {"label": "pleural effusion", "side": "left", "volume_ml": 250.0, "artifacts": []}


@pytest.fixture
def kb(tmp_path: Path) -> Iterator[KnowledgeBase]:
    base = KnowledgeBase(tmp_path / "kb", embedder=HashingEmbedder(64))
    base.add_documents(
        [
            Document(
                "guides/effusion.md",
                "document",
                ((Section.BODY, "A left pleural effusion blunts the costophrenic angle."),),
                modality=Modality.XRAY,
            ),
            Document(
                "reports/r1.txt",
                "report",
                ((Section.IMPRESSION, "Cardiomegaly without effusion."),),
                modality=Modality.XRAY,
            ),
        ]
    )
    yield base
    base.close()


def conversation(kb: KnowledgeBase) -> list[BaseMessage]:
    """A user question, a segmentation result, a failed call and a knowledge search."""
    hit = kb.search("left pleural effusion", 1)[0].chunk
    passage = {
        "citation_id": hit.citation_id,
        "text": hit.text,
        "source": hit.source,
        "section": hit.section.value,
    }
    calls = [{"name": "segment", "args": {}, "id": "c1"}]
    return [
        HumanMessage(content="Please look at this chest X-ray."),
        AIMessage(content="", tool_calls=calls),
        ToolMessage(content=json.dumps(MEASURE), tool_call_id="c1", name="segment"),
        ToolMessage(
            content="no attachment 'img9'", tool_call_id="c2", name="segment", status="error"
        ),
        ToolMessage(
            content=json.dumps({"query": "effusion", "passages": [passage]}),
            tool_call_id="c3",
            name="search_knowledge",
        ),
        AIMessage(content="There is a left pleural effusion."),
    ]
