"""The real vLLM server (embedded SmolLM2) searches the knowledge base and drafts reports."""

from __future__ import annotations

import base64
import json
import logging
import re
import time
from pathlib import Path

import pytest
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from langchain_core.messages import ToolMessage
from PIL import Image

from assistant.events import ToolFinished, ToolStarted, TurnDone
from assistant.report import Support, draft_report
from assistant.server import VLLMServer
from assistant.service import Assistant
from retrieval.embeddings import HashingEmbedder
from retrieval.knowledge import KnowledgeBase
from retrieval.tool import KnowledgeSource, close_knowledge_bases
from tests.retrieval.conftest import report_docs
from tests.tools.segmentation.synthetic import chest_xray
from tests.vllm_servers import app_config, recording_client

pytestmark = pytest.mark.vllm
log = logging.getLogger(__name__)


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

        evidence = report.evidence_by_id()
        assert {p["citation_id"] for p in passages} <= set(evidence)
        request = model.requests[-1]
        assert request.json_schema is not None
        written = [s for sec in report.sections for s in sec.sentences if s.origin == "model"]
        if written:  # the grammar forces at least one real citation per sentence
            for sentence in written:
                assert sentence.citations and set(sentence.citations) <= set(evidence)
                for cid in sentence.citations:  # passage ids resolve to stored passages
                    stored = kb.get(cid)
                    assert stored is not None and stored.text == evidence[cid].text
        else:  # …or the draft says plainly why the model wrote nothing
            assert any("wrote nothing usable" in n for n in report.notes), report.notes
    finally:
        kb.close()
        close_knowledge_bases()


def _numbers(text: str) -> set[float]:
    return {float(n) for n in re.findall(r"(?<![\w.])\d+(?:\.\d+)?", text)}


async def test_draft_cites_the_segmentation_and_exports_the_edit(
    text_server: VLLMServer, tmp_path: Path
) -> None:
    """Segment + search, draft on the real model, then edit: the FHIR file carries the edit."""
    kb = KnowledgeBase(tmp_path / "kb", embedder=HashingEmbedder(64))
    kb.add_documents(report_docs())
    chest = tmp_path / "chest.png"
    Image.fromarray(chest_xray((240, 220))[0]).save(chest)
    model = recording_client(text_server)
    try:
        async with Assistant(
            app_config(text_server, tmp_path / "data"),
            model=model,
            tool_deps=[KnowledgeSource(tmp_path / "kb")],
        ) as assistant:
            session = assistant.new_session().id
            att = assistant.add_upload(session, chest)
            steps = [
                ("segment", {"image_id": att.id, "target": "lung_fields"}),
                ("search_knowledge", {"query": "pleural effusion"}),
            ]
            for name, arguments in steps:
                events = [e async for e in assistant.run_tool(session, name, arguments)]
                done = [e for e in events if isinstance(e, ToolFinished)]
                assert done and done[0].status == "success", events
            started = time.monotonic()
            report = await assistant.draft_report(session, "chest-radiograph")
            seconds = time.monotonic() - started
            history = await assistant.history(session)
            files = assistant.report_files(session, report.id)
            impression = report.section("impression")
            assert impression is not None
            edited_text = "Edited by the clinician: lungs measured, no effusion seen."
            markdown = files.markdown.read_text()
            head, _, rest = markdown.partition("## Impression\n")
            _, _, tail = rest.partition("\n## ")
            edited = f"{head}## Impression\n\n- {edited_text}\n\n## {tail}"
            saved, files = assistant.save_report(session, report.id, edited, status="final")
            listed = [r.id for r in assistant.list_reports(session)]
        log.info("draft on %s: %.1f s, notes %s", text_server.profile.name, seconds, report.notes)

        results = {m.tool_call_id: m for m in history if isinstance(m, ToolMessage) and m.name}
        evidence = report.evidence_by_id()
        [finding] = report.section("findings").sentences  # type: ignore[union-attr]
        assert finding.origin == "measured" and finding.citations
        [tool_id] = finding.citations
        assert tool_id.startswith("T") and evidence[tool_id].label == "segment"
        stored = results[str(evidence[tool_id].tool_call_id)]  # resolves to the stored tool result
        result = json.loads(str(stored.content))
        assert result["target"] == "lung_fields" and result["count"] >= 1
        assert _numbers(finding.text) <= _numbers(str(stored.content))  # numbers as measured
        for s in result["structures"]:
            value = s["area"]["value"]
            shown = str(int(value)) if float(value).is_integer() else str(value)
            assert f"{s['name']} {shown} {s['area']['unit']}" in finding.text
        assert finding.support == Support.SUPPORTED, finding.problem

        for _, sentence in report.sentences():  # every cited id resolves to stored evidence
            for cid in sentence.citations:
                item = evidence[cid]
                if item.kind == "passage":
                    kept = kb.get(cid)
                    assert kept is not None and kept.text == item.text
                elif item.kind == "tool":
                    assert item.tool_call_id in results
            if sentence.origin == "model":
                assert sentence.citations, sentence  # the schema requires a citation
        assert any(e.kind == "passage" for e in report.evidence)

        fhir = json.loads(files.fhir.read_text())
        DiagnosticReport.model_validate(fhir)
        assert fhir["status"] == "final" and fhir["conclusion"] == edited_text
        assert edited_text in base64.b64decode(fhir["presentedForm"][0]["data"]).decode()
        names = {o["code"]["text"] for o in fhir["contained"]}
        assert {f"{s['name']} area" for s in result["structures"]} <= names
        assert saved.version == 2 and listed == [report.id]
    finally:
        kb.close()
        close_knowledge_bases()
