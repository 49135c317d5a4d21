"""The real vLLM server (embedded SmolLM2) searches the knowledge base and drafts a report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.events import ToolFinished, ToolStarted, TurnDone
from assistant.report import Support, draft_report
from assistant.server import VLLMServer
from assistant.service import Assistant
from retrieval.embeddings import HashingEmbedder
from retrieval.knowledge import KnowledgeBase
from retrieval.tool import KnowledgeSource, close_knowledge_bases
from tests.retrieval.conftest import report_docs
from tests.vllm_servers import app_config, recording_client

pytestmark = pytest.mark.vllm


async def test_search_knowledge_then_report_citing_stored_passages(
    text_server: VLLMServer, tmp_path: Path, gradient_png: Path
) -> None:
    kb = KnowledgeBase(tmp_path / "kb", embedder=HashingEmbedder(64))
    kb.add_documents(report_docs())
    model = recording_client(text_server)
    deps = [KnowledgeSource(tmp_path / "kb")]
    try:
        async with Assistant(
            app_config(text_server, tmp_path / "data"), model=model, tool_deps=deps
        ) as assistant:
            session = assistant.new_session().id
            att = assistant.add_upload(session, gradient_png)
            events = [
                e
                async for e in assistant.run_turn(
                    session,
                    "Find reference text about pleural effusion.",
                    [att.id],
                    force_tool="search_knowledge",
                )
            ]
            history = await assistant.history(session)
            # Inside the block: leaving it closes the model client.
            report = await draft_report(model, "chest-radiograph", history, max_tokens=600)
        started = [e for e in events if isinstance(e, ToolStarted)]
        finished = [e for e in events if isinstance(e, ToolFinished)]
        assert started[0].name == "search_knowledge"  # arguments decoded under the grammar
        assert isinstance(started[0].arguments.get("query"), str)
        assert finished[0].status == "success", finished[0].content
        assert isinstance(events[-1], TurnDone)
        passages = json.loads(finished[0].content)["passages"]

        cited = {c for _, s in report.sentences() for c in s.citations}
        evidence = report.evidence_by_id()
        assert cited <= set(evidence)  # the grammar allows only real evidence ids
        for cid in cited:
            if evidence[cid].kind == "passage":
                stored = kb.get(cid)  # …and passage ids resolve to stored passages
                assert stored is not None and stored.text == evidence[cid].text
        assert {p["citation_id"] for p in passages} <= set(evidence)
        assert all(s.support in tuple(Support) for _, s in report.sentences())
        assert model.requests[-1].json_schema is not None
    finally:
        kb.close()
        close_knowledge_bases()
