"""The search_knowledge tool, alone and called by the real graph through a constrained action."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage, ToolMessage

from assistant.config import load_profile
from assistant.graph import build_graph
from assistant.state import AgentContext, AgentState
from assistant.testing import ScriptedChatModel
from retrieval.embeddings import HashingEmbedder
from retrieval.knowledge import KnowledgeBase
from retrieval.tool import (
    KnowledgeSource,
    SearchKnowledgeResult,
    close_knowledge_bases,
    search_knowledge,
)
from retrieval.types import Section
from tests.conftest import make_attachment
from tests.retrieval.conftest import report_docs
from tools.errors import ToolArgumentError, ToolError
from tools.registry import Registry, Tool, ToolContext

TOOL = Tool.from_function(search_knowledge)


@pytest.fixture
def kb_dir(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "kb"
    kb = KnowledgeBase(folder, embedder=HashingEmbedder(64))
    kb.add_documents(report_docs())
    kb.close()
    yield folder
    close_knowledge_bases()


def _ctx(tmp_path: Path, folder: Path | None, png: Path | None = None) -> ToolContext:
    attachments = {"img1": make_attachment(png)} if png else {}
    return ToolContext("s1", tmp_path, attachments, deps=[KnowledgeSource(folder)])


async def _call(ctx: ToolContext, **arguments: Any) -> SearchKnowledgeResult:
    result = await TOOL.run(TOOL.parse_args(arguments), ctx)
    assert isinstance(result, SearchKnowledgeResult)
    return result


async def test_returns_passages_with_citation_ids(kb_dir: Path, tmp_path: Path) -> None:
    result = await _call(_ctx(tmp_path, kb_dir), query="pneumothorax", k=2)
    assert [p.source for p in result.passages] == ["reports/r3.txt", "reports/r3.txt"]
    kb = KnowledgeBase(kb_dir)
    try:
        for passage in result.passages:  # every id resolves to the stored passage
            stored = kb.get(passage.citation_id)
            assert stored is not None and stored.text == passage.text
    finally:
        kb.close()
    assert result.note is None
    data = json.loads(result.for_model())
    assert data["passages"][0]["citation_id"].startswith("kb-")


async def test_section_filter_and_no_match(kb_dir: Path, tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, kb_dir)
    result = await _call(ctx, query="pneumothorax", section="impression")
    assert [p.text for p in result.passages] == ["Right apical pneumothorax."]
    assert result.passages[0].section == Section.IMPRESSION
    empty = await _call(ctx, query="pneumothorax", modality="pathology")
    assert empty.passages == [] and empty.note is not None and "No passage matched" in empty.note


async def test_image_without_encoder_is_said_clearly(
    kb_dir: Path, tmp_path: Path, gradient_png: Path
) -> None:
    ctx = _ctx(tmp_path, kb_dir, gradient_png)
    result = await _call(ctx, query="effusion", image_id="img1")
    assert result.passages and result.note is not None
    assert result.note.startswith("No image encoder is configured, so the image was not used")
    with pytest.raises(ToolArgumentError, match="no attachment 'img7'"):
        await _call(ctx, query="effusion", image_id="img7")


async def test_missing_or_unbuilt_knowledge_base(tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="no knowledge base is configured"):
        await _call(_ctx(tmp_path, None), query="effusion")
    with pytest.raises(ToolError, match=r"there is no knowledge base in .*medassist index build"):
        await _call(_ctx(tmp_path, tmp_path / "none"), query="effusion")
    with pytest.raises(ToolArgumentError, match="query"):
        TOOL.parse_args({"query": ""})


async def test_graph_calls_search_knowledge_by_constrained_action(
    kb_dir: Path, tmp_path: Path, gradient_png: Path
) -> None:
    action = json.dumps({"tool": "search_knowledge", "arguments": {"query": "cardiomegaly"}})
    model = ScriptedChatModel([action, '{"tool": "answer"}', "Congestive heart failure [1]."])
    ctx = AgentContext(
        model=model,
        profile=load_profile("smollm2-135m"),
        registry=Registry([TOOL]),
        session_id="s1",
        session_dir=tmp_path,
        attachments={"img1": make_attachment(gradient_png)},
        tool_deps=[KnowledgeSource(kb_dir)],
    )
    state: dict[str, Any] = {}
    inputs: AgentState = {
        "messages": [HumanMessage(content="What does cardiomegaly suggest?")],
        "steps": 0,
    }
    async for chunk in build_graph().astream(inputs, context=ctx, stream_mode="values"):
        state = chunk
    message = next(m for m in state["messages"] if isinstance(m, ToolMessage))
    passages = json.loads(str(message.content))["passages"]
    assert passages[0]["source"] == "reports/r4.txt"
    schema = model.requests[0].json_schema
    assert schema is not None and "search_knowledge" in json.dumps(schema)


async def test_reopens_a_base_updated_or_rebuilt_meanwhile(kb_dir: Path, tmp_path: Path) -> None:
    from retrieval.tool import open_knowledge_base
    from tests.retrieval.conftest import guideline_doc

    first = open_knowledge_base(kb_dir)
    assert open_knowledge_base(kb_dir) is first and not first.is_stale()
    writer = KnowledgeBase(kb_dir)  # another process: `medassist index add`
    writer.add_documents([guideline_doc()])
    writer.close()
    assert first.is_stale()
    second = open_knowledge_base(kb_dir)
    assert second is not first and second.stats().chunks == 11
    rebuilt = tmp_path / "rebuilt"  # `medassist index build` swaps in a new folder
    fresh = KnowledgeBase(rebuilt, embedder=HashingEmbedder(64))
    fresh.add_documents(report_docs()[:1])
    fresh.close()
    kb_dir.rename(tmp_path / "old")
    rebuilt.rename(kb_dir)
    assert second.is_stale()
    assert open_knowledge_base(kb_dir).stats().chunks == 2
