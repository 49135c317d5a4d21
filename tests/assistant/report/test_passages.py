"""Drafts are offered knowledge-base passages about what was measured."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

from assistant.report import collect_evidence, draft_report, load_template, related_passages
from assistant.report.passages import draft_query
from assistant.testing import ScriptedChatModel
from retrieval.knowledge import KnowledgeBase
from retrieval.tool import KnowledgeSource, close_knowledge_bases
from tests.assistant.report.conftest import lung_result, tool_message


def test_query_names_the_template_and_what_was_measured() -> None:
    evidence = collect_evidence([tool_message("segment", lung_result(), "c1")])
    query = draft_query(load_template("chest-radiograph"), evidence)
    assert query == "Chest radiograph lung fields right lung left lung"


async def test_draft_offers_and_resolves_related_passages(kb: KnowledgeBase) -> None:
    messages = [tool_message("segment", lung_result(), "c1")]  # no search in the session
    search = partial(related_passages, KnowledgeSource(kb.folder))
    reply = json.dumps({"interpretation": [], "impression": [], "recommendations": []})
    model = ScriptedChatModel([reply])
    try:
        report = await draft_report(model, "chest-radiograph", messages, search=search)
    finally:
        close_knowledge_bases()
    passages = [e for e in report.evidence if e.kind == "passage"]
    assert passages, "no passage offered"
    for p in passages:
        stored = kb.get(p.id)
        assert stored is not None and stored.text == p.text
        assert f"[{p.id}] passage" in model.requests[0].messages[0]["content"]
    enum = model.requests[0].json_schema["properties"]["impression"]["items"]  # type: ignore[index]
    assert {p.id for p in passages} <= set(enum["properties"]["citations"]["items"]["enum"])


def test_no_knowledge_base_offers_nothing(tmp_path: Path) -> None:
    evidence = collect_evidence([tool_message("segment", lung_result(), "c1")])
    template = load_template("ct")
    assert related_passages(None, template, evidence) == []
    assert related_passages(KnowledgeSource(None), template, evidence) == []
    assert related_passages(KnowledgeSource(tmp_path / "none"), template, evidence) == []
