"""Draft a structured report with a grammar-constrained request.

The JSON schema lists the template's sections; each is an array of sentences, and each
sentence's citations are an enum of the real evidence ids, so even a small model can only
cite evidence that exists. What it cites is then checked by `check_support`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from pydantic import BaseModel

from assistant.llm import ChatModel, ChatRequest, Message, collect
from assistant.report.evidence import Evidence, collect_evidence
from assistant.report.model import DraftReport, ReportSection, ReportSentence
from assistant.report.support import check_support
from assistant.report.templates import ReportTemplate, load_template
from tools.errors import LLMResponseError

__all__ = ["draft_report", "report_schema"]

_MAX_CITATIONS = 4
_CONVERSATION_TURNS = 8
_PROMPT_CHARS_PER_ITEM = 600

SYSTEM = """You draft a {title} for a clinician to review. Write only what the evidence \
supports. Every sentence lists the ids of the evidence that supports it in "citations". \
If the evidence says nothing about a section, leave that section empty (or, if it must be \
filled, say that it could not be assessed and cite nothing). Copy measurements with their \
units exactly.

Sections:
{sections}

Evidence:
{evidence}"""


def report_schema(template: ReportTemplate, evidence_ids: Sequence[str]) -> dict[str, Any]:
    """JSON schema of a report for `template`, citations limited to `evidence_ids`."""
    citations: dict[str, Any] = (
        {"type": "array", "items": {"enum": list(evidence_ids)}, "maxItems": _MAX_CITATIONS}
        if evidence_ids
        else {"type": "array", "maxItems": 0}
    )
    sentence = {
        "type": "object",
        "properties": {"text": {"type": "string", "maxLength": 400}, "citations": citations},
        "required": ["text", "citations"],
        "additionalProperties": False,
    }
    properties = {
        s.name: {
            "type": "array",
            "items": sentence,
            "minItems": 1 if s.required else 0,
            "maxItems": s.max_sentences,
        }
        for s in template.sections
    }
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def _evidence_block(evidence: Sequence[Evidence]) -> str:
    if not evidence:
        return "(none: no tool results and no retrieved passages)"
    return "\n".join(f"[{e.id}] {e.kind} {e.label}: {_clip(e.text)}" for e in evidence)


def _clip(text: str, limit: int = _PROMPT_CHARS_PER_ITEM) -> str:
    """Shorten long evidence in the prompt (small models have small context windows)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _conversation(messages: Sequence[BaseMessage]) -> list[Message]:
    turns = [
        m
        for m in messages
        if isinstance(m, HumanMessage | AIMessage)
        and m.content
        and not (isinstance(m, AIMessage) and m.tool_calls)
        and not m.additional_kwargs.get("synthetic")
    ]
    out: list[Message] = []
    for m in turns[-_CONVERSATION_TURNS:]:
        text = m.content if isinstance(m.content, str) else str(m.content)
        out.append(
            {"role": "user" if isinstance(m, HumanMessage) else "assistant", "content": text}
        )
    return out


def _parse(text: str, template: ReportTemplate) -> dict[str, list[dict[str, Any]]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LLMResponseError(
            f"the model's report draft was not valid JSON ({exc.msg}); try again"
        ) from None
    if not isinstance(data, dict):
        raise LLMResponseError("the model's report draft was not a JSON object; try again")
    out: dict[str, list[dict[str, Any]]] = {}
    for section in template.sections:
        items = data.get(section.name, [])
        if not isinstance(items, list):
            raise LLMResponseError(f"the draft's {section.name!r} was not a list of sentences")
        out[section.name] = [i for i in items if isinstance(i, dict)]
    return out


async def draft_report(
    model: ChatModel,
    template: str | ReportTemplate,
    messages: Sequence[BaseMessage],
    passages: Iterable[Mapping[str, Any] | BaseModel] = (),
    *,
    max_tokens: int = 1024,
) -> DraftReport:
    """Draft a report from the conversation, its tool results and retrieved passages.

    Sentences whose citations do not resolve, or that cite nothing, come back marked by
    the support check; nothing is dropped silently.
    """
    spec = load_template(template) if isinstance(template, str) else template
    evidence = collect_evidence(messages, passages)
    guide = "\n".join(
        f"- {s.name} ({s.title}{', required' if s.required else ''}): {s.guidance}"
        for s in spec.sections
    )
    system = SYSTEM.format(title=spec.title, sections=guide, evidence=_evidence_block(evidence))
    request_messages: list[Message] = [
        {"role": "system", "content": system},
        *_conversation(messages),
        {"role": "user", "content": f"Write the {spec.title} now, as JSON."},
    ]
    schema = report_schema(spec, [e.id for e in evidence])
    reply = await collect(
        model,
        ChatRequest(request_messages, max_tokens=max_tokens, temperature=0.0, json_schema=schema),
    )
    data = _parse(reply.text, spec)
    sections = [
        ReportSection(
            name=s.name,
            title=s.title,
            sentences=[
                ReportSentence(
                    text=str(item.get("text", "")).strip(),
                    citations=list(
                        dict.fromkeys(str(c) for c in item.get("citations", []) if c is not None)
                    ),
                )
                for item in data[s.name]
                if str(item.get("text", "")).strip()
            ],
        )
        for s in spec.sections
    ]
    report = DraftReport(
        id=uuid.uuid4().hex,
        template=spec.name,
        title=spec.title,
        modality=spec.modality,
        sections=sections,
        evidence=evidence,
    )
    return check_support(report)
