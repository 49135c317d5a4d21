"""Drafting with a scripted model: constrained schema, evidence, support marks, resolution."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage, ToolMessage

from assistant.config import load_profile
from assistant.graph import build_graph
from assistant.report import Support, collect_evidence, draft_report, load_template, report_schema
from assistant.state import AgentContext, AgentState
from assistant.testing import ScriptedChatModel
from retrieval.knowledge import KnowledgeBase
from retrieval.tool import KnowledgeSource, close_knowledge_bases, search_knowledge
from tests.assistant.report.conftest import conversation
from tests.conftest import make_attachment
from tools.errors import LLMResponseError
from tools.registry import Registry, Tool


def _reply(**sections: list[tuple[str, list[str]]]) -> str:
    return json.dumps(
        {name: [{"text": t, "citations": c} for t, c in items] for name, items in sections.items()}
    )


def test_evidence_from_tool_messages(kb: KnowledgeBase) -> None:
    evidence = collect_evidence(conversation(kb))
    assert (evidence[0].id, evidence[0].kind, evidence[0].label) == ("T1", "tool", "segment")
    assert evidence[1].kind == "passage" and evidence[1].id.startswith("kb-")
    assert len(evidence) == 2  # the failed call is not evidence
    assert "artifacts" not in evidence[0].text and '"volume_ml":250.0' in evidence[0].text
    extra = collect_evidence([], [{"citation_id": "kb-x", "text": "t", "source": "s"}])
    assert [(e.id, e.label) for e in extra] == [("kb-x", "s")]


def test_schema_limits_citations_to_real_ids() -> None:
    template = load_template("chest-radiograph")
    schema = report_schema(template, ["T1", "kb-abc"])
    assert schema["required"] == ["findings", "impression", "recommendations"]
    findings = schema["properties"]["findings"]
    assert (findings["minItems"], findings["maxItems"]) == (1, 8)
    assert schema["properties"]["recommendations"]["minItems"] == 0
    citations = findings["items"]["properties"]["citations"]
    assert citations["items"] == {"enum": ["T1", "kb-abc"]}
    assert report_schema(template, [])["properties"]["impression"]["items"]["properties"][
        "citations"
    ] == {"type": "array", "maxItems": 0}


async def test_draft_marks_support_and_citations_resolve(kb: KnowledgeBase) -> None:
    messages = conversation(kb)
    passage_id = collect_evidence(messages)[1].id
    reply = _reply(
        findings=[
            ("Left pleural effusion of about 250 ml.", ["T1"]),
            ("Heart size is normal.", []),
            ("Effusion volume 300 ml.", ["T1"]),
        ],
        impression=[("Left pleural effusion.", ["T1", passage_id])],
        recommendations=[("Right effusion follow-up.", [passage_id]), ("Repeat CT.", ["kb-nope"])],
    )
    model = ScriptedChatModel([reply])
    report = await draft_report(model, "chest-radiograph", messages)

    request = model.requests[0]
    assert request.json_schema is not None and request.temperature == 0.0
    cites = request.json_schema["properties"]["impression"]["items"]["properties"]["citations"]
    assert cites["items"]["enum"] == ["T1", passage_id]
    system = request.messages[0]["content"]
    assert "[T1] tool segment:" in system and f"[{passage_id}] passage" in system
    roles = [m["role"] for m in request.messages]
    assert roles == ["system", "user", "assistant", "user"]  # tool-call turns left out

    marks = [(s.text, s.support, s.problem) for _, s in report.sentences()]
    assert marks == [
        ("Left pleural effusion of about 250 ml.", Support.SUPPORTED, None),
        ("Heart size is normal.", Support.UNSUPPORTED, "cites no evidence"),
        ("Effusion volume 300 ml.", Support.WEAK, "the cited evidence does not state 300"),
        ("Left pleural effusion.", Support.SUPPORTED, None),
        (
            "Right effusion follow-up.",
            Support.WEAK,
            "the sentence says right, the evidence does not",
        ),
        ("Repeat CT.", Support.UNSUPPORTED, "cites unknown evidence: kb-nope"),
    ]
    stored = kb.get(passage_id)  # the passage citation resolves to the stored passage
    assert stored is not None and stored.text == report.evidence_by_id()[passage_id].text
    assert report.numbering() == {"T1": 1, passage_id: 2}


async def test_unusable_reply_is_a_clear_error(kb: KnowledgeBase) -> None:
    with pytest.raises(LLMResponseError, match="not valid JSON"):
        await draft_report(ScriptedChatModel(["Sure! Here is"]), "ct", conversation(kb))
    with pytest.raises(LLMResponseError, match="'findings' was not a list"):
        await draft_report(ScriptedChatModel(['{"findings": "x"}']), "ct", conversation(kb))


async def test_graph_search_then_draft_cites_stored_passages(
    kb: KnowledgeBase, tmp_path: Path, gradient_png: Path
) -> None:
    action = json.dumps({"tool": "search_knowledge", "arguments": {"query": "pleural effusion"}})
    agent_model = ScriptedChatModel([action, '{"tool": "answer"}', "See the passages."])
    ctx = AgentContext(
        model=agent_model,
        profile=load_profile("smollm2-135m"),
        registry=Registry([Tool.from_function(search_knowledge)]),
        session_id="s1",
        session_dir=tmp_path,
        attachments={"img1": make_attachment(gradient_png)},
        tool_deps=[KnowledgeSource(kb.folder)],
    )
    state: dict[str, Any] = {}
    inputs: AgentState = {"messages": [HumanMessage(content="Effusion?")], "steps": 0}
    try:
        async for chunk in build_graph().astream(inputs, context=ctx, stream_mode="values"):
            state = chunk
    finally:
        close_knowledge_bases()
    assert any(isinstance(m, ToolMessage) for m in state["messages"])
    ids = [e.id for e in collect_evidence(state["messages"])]
    assert ids and all(i.startswith("kb-") for i in ids)
    reply = _reply(
        findings=[("Left pleural effusion.", ids[:1])],
        impression=[("Effusion.", ids[:1])],
        recommendations=[],
    )
    report = await draft_report(ScriptedChatModel([reply]), "chest-radiograph", state["messages"])
    for _, sentence in report.sentences():
        assert sentence.support == Support.SUPPORTED
        for cid in sentence.citations:
            assert kb.get(cid) is not None
