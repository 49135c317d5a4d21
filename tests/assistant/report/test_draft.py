"""Drafting with a scripted model: constrained schema, evidence, support marks, resolution."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage, ToolMessage

from assistant.config import load_profile
from assistant.graph import build_graph
from assistant.report import (
    ATTEMPTS,
    Support,
    collect_evidence,
    draft_report,
    load_template,
    report_schema,
    to_markdown,
)
from assistant.state import AgentContext, AgentState
from assistant.testing import DeadChatModel, ScriptedChatModel
from retrieval.knowledge import KnowledgeBase
from retrieval.tool import KnowledgeSource, close_knowledge_bases, search_knowledge
from tests.assistant.report.conftest import chest_conversation, conversation
from tests.conftest import make_attachment
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


def test_schema_covers_the_model_sections_and_requires_a_citation() -> None:
    template = load_template("chest-radiograph")
    schema = report_schema(template, ["T1", "kb-abc"])
    assert schema["required"] == ["interpretation", "impression", "recommendations"]
    interpretation = schema["properties"]["interpretation"]
    assert (interpretation["minItems"], interpretation["maxItems"]) == (1, 4)
    assert schema["properties"]["recommendations"]["minItems"] == 0
    citations = interpretation["items"]["properties"]["citations"]
    assert citations["items"] == {"enum": ["T1", "kb-abc"]}
    assert (citations["minItems"], citations["maxItems"]) == (1, 4)
    no_evidence = report_schema(template, [])["properties"]["impression"]["items"]
    assert no_evidence["properties"]["citations"] == {"type": "array", "maxItems": 0}


async def test_draft_measures_then_checks_the_model_sentences(kb: KnowledgeBase) -> None:
    messages = chest_conversation(kb)
    passage_id = collect_evidence(messages)[1].id
    reply = _reply(
        interpretation=[
            ("The right lung measures 16012.25 mm².", ["T1"]),
            ("The left lung measures 15000 mm².", ["T1"]),
            ("A left pleural effusion blunts the costophrenic angle.", [passage_id]),
        ],
        impression=[
            ("Both lungs are well aerated and the heart looks enlarged today.", [passage_id]),
        ],
        recommendations=[("No follow-up of the lungs.", ["T1"])] * 2
        + [("The right lung measures 16012.25 mm².", ["T1"])],
    )
    model = ScriptedChatModel([reply])
    report = await draft_report(model, "chest-radiograph", messages)

    request = model.requests[0]
    assert request.json_schema is not None and request.temperature == 0.0
    system = request.messages[0]["content"]
    assert "right lung 16012.25 mm²" in system  # measured findings shown, not to be repeated
    assert f"[{passage_id}] passage" in system

    [finding] = report.section("findings").sentences  # type: ignore[union-attr]
    assert finding.origin == "measured" and finding.citations == ["T1"]
    assert finding.support == Support.SUPPORTED
    assert "right lung 16012.25 mm²; left lung 14500.25 mm²" in finding.text

    marks = [(s.text, s.support, s.problem) for s in report.section("interpretation").sentences]  # type: ignore[union-attr]
    assert marks == [
        ("The right lung measures 16012.25 mm².", Support.SUPPORTED, None),
        (
            "The left lung measures 15000 mm².",
            Support.MISMATCH,
            "the cited evidence does not state 15000",
        ),
        ("A left pleural effusion blunts the costophrenic angle.", Support.SUPPORTED, None),
    ]
    [impression] = report.section("impression").sentences  # type: ignore[union-attr]
    assert impression.support == Support.UNSUPPORTED
    assert impression.problem is not None and "repeats earlier chat text" in impression.problem
    assert len(report.section("recommendations").sentences) == 1  # type: ignore[union-attr]
    assert "2 repeated sentence(s) of the model merged in Recommendations." in report.notes
    stored = kb.get(passage_id)
    assert stored is not None and stored.text == report.evidence_by_id()[passage_id].text


async def test_invalid_json_three_times_keeps_the_measured_findings(kb: KnowledgeBase) -> None:
    model = ScriptedChatModel(["Sure! Here is", '{"interpretation": [', "not json either"])
    report = await draft_report(model, "chest-radiograph", chest_conversation(kb))
    assert len(model.requests) == ATTEMPTS == 3
    retry = model.requests[1].messages
    assert retry[-2] == {"role": "assistant", "content": "Sure! Here is"}
    assert "not valid JSON (Expecting value at character 0)" in retry[-1]["content"]
    [finding] = report.section("findings").sentences  # type: ignore[union-attr]
    assert finding.citations == ["T1"] and "16012.25 mm²" in finding.text
    assert finding.support == Support.SUPPORTED
    assert report.section("impression").sentences == []  # type: ignore[union-attr]
    [note] = report.notes
    assert "not valid JSON" in note and "3 times" in note and "measured findings only" in note
    assert "measured findings only" in to_markdown(report)


async def test_a_retry_that_parses_is_used(kb: KnowledgeBase) -> None:
    good = _reply(interpretation=[("Right lung 16012.25 mm².", ["T1"])], impression=[])
    model = ScriptedChatModel(['{"interpretation": "x"}', good])
    report = await draft_report(model, "chest-radiograph", chest_conversation(kb))
    assert len(model.requests) == 2
    assert "'interpretation' was not a list" in model.requests[1].messages[-1]["content"]
    assert [s.text for s in report.section("interpretation").sentences] == [  # type: ignore[union-attr]
        "Right lung 16012.25 mm²."
    ]
    assert report.notes == []


async def test_a_dead_model_server_still_yields_the_findings(kb: KnowledgeBase) -> None:
    report = await draft_report(DeadChatModel(), "chest-radiograph", chest_conversation(kb))
    assert report.section("findings").sentences  # type: ignore[union-attr]
    assert "could not be reached" in report.notes[0]


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
        interpretation=[("Left pleural effusion.", ids[:1])],
        impression=[("Effusion.", ids[:1])],
        recommendations=[],
    )
    report = await draft_report(ScriptedChatModel([reply]), "chest-radiograph", state["messages"])
    for _, sentence in report.sentences():
        assert sentence.support == Support.SUPPORTED
        for cid in sentence.citations:
            assert kb.get(cid) is not None


@pytest.mark.parametrize("max_tokens", [256, 512, 1024])
def test_schema_fits_the_token_budget(max_tokens: int) -> None:
    """The longest reply the schema allows fits in max_tokens (~3 characters a token)."""
    for name in ("chest-radiograph", "ct", "pathology-slide"):
        schema = report_schema(load_template(name), ["T1", "kb-abcdef0123"], max_tokens)
        longest = 2 + sum(
            len(section) + 6 + p["maxItems"] * (p["items"]["properties"]["text"]["maxLength"] + 84)
            for section, p in schema["properties"].items()
        )
        assert longest <= max_tokens * 3, (name, longest)
        assert all(p["maxItems"] >= 1 for p in schema["properties"].values())
    full = report_schema(load_template("ct"), ["T1"])["properties"]["interpretation"]
    assert (full["maxItems"], full["items"]["properties"]["text"]["maxLength"]) == (5, 400)
