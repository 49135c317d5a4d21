"""Draft a structured report: measured findings by code, the rest by a constrained model.

Sections a template fills from evidence are rendered by `findings.measured_sentences`,
whatever the model. The model writes the other sections under a JSON schema: each is an
array of sentences, and each sentence's citations are an enum of the real evidence ids with
at least one required whenever evidence exists. A reply that is not valid JSON is retried
with the parse error fed back; after the last try the draft keeps the measured findings
alone with a note saying so, so a draft is never lost to the model.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from pydantic import BaseModel

from assistant.llm import ChatModel, ChatRequest, Message, collect
from assistant.report.evidence import Evidence, collect_evidence
from assistant.report.findings import measured_sentences
from assistant.report.model import DraftReport, ReportSection, ReportSentence
from assistant.report.support import check_support
from assistant.report.templates import ReportTemplate, load_template
from tools.attachments import Attachment
from tools.errors import LLMError, LLMResponseError

__all__ = ["ATTEMPTS", "draft_report", "report_schema"]

log = logging.getLogger(__name__)

PassageSearch = Callable[[ReportTemplate, Sequence[Evidence]], Sequence[Mapping[str, Any]]]
"""Finds reference passages for a draft from its template and evidence."""

ATTEMPTS = 3
"""Tries the model gets to reply with valid JSON before the draft goes without it."""
_MAX_CITATIONS = 4
_MAX_SENTENCE_CHARS = 400
_MIN_SENTENCE_CHARS = 80
_CHARS_PER_TOKEN = 3
"""Conservative: JSON with ids tokenizes worse than prose."""
_SENTENCE_OVERHEAD = 20 + _MAX_CITATIONS * 16
"""Characters of a sentence object besides its text: keys, quotes, citation ids."""
_CONVERSATION_TURNS = 8
_PROMPT_CHARS_PER_ITEM = 600
_FEEDBACK_CHARS = 300

SYSTEM = """You draft a {title} for a clinician to review. The measured findings below were \
written by the software from the tool results; do not repeat them. Write the remaining \
sections: what the evidence means. Every sentence lists in "citations" the ids of the \
evidence that supports it (tool results T1, T2 …, image facts I1 …, reference passages \
kb-…). Copy any number with its unit exactly as the cited evidence states it. Leave an \
optional section empty when the evidence says nothing about it.

Sections to write:
{sections}

Measured findings (already in the report):
{measured}

Evidence:
{evidence}"""


def report_schema(
    template: ReportTemplate, evidence_ids: Sequence[str], max_tokens: int | None = None
) -> dict[str, Any]:
    """JSON schema of the model's part of a report: its sections, citations from `evidence_ids`.

    With evidence, every sentence must cite at least one id; without, it can cite none.
    With `max_tokens`, sentence length and count shrink until the longest reply the
    schema allows fits in that many tokens, so a reply is never cut off mid-JSON.
    """
    citations: dict[str, Any] = (
        {
            "type": "array",
            "items": {"enum": list(evidence_ids)},
            "minItems": 1,
            "maxItems": _MAX_CITATIONS,
        }
        if evidence_ids
        else {"type": "array", "maxItems": 0}
    )
    counts = {s.name: s.max_sentences for s in template.model_sections}
    length = _MAX_SENTENCE_CHARS
    if max_tokens is not None:
        budget = max_tokens * _CHARS_PER_TOKEN - 20 * (len(counts) + 1)
        length = budget // max(1, sum(counts.values())) - _SENTENCE_OVERHEAD
        while length < _MIN_SENTENCE_CHARS and any(n > 1 for n in counts.values()):
            counts = {k: max(1, n - 1) for k, n in counts.items()}
            length = budget // sum(counts.values()) - _SENTENCE_OVERHEAD
        length = max(_MIN_SENTENCE_CHARS // 2, min(_MAX_SENTENCE_CHARS, length))
    sentence = {
        "type": "object",
        "properties": {"text": {"type": "string", "maxLength": length}, "citations": citations},
        "required": ["text", "citations"],
        "additionalProperties": False,
    }
    properties = {
        s.name: {
            "type": "array",
            "items": sentence,
            "minItems": 1 if s.required else 0,
            "maxItems": counts[s.name],
        }
        for s in template.model_sections
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


def _chat_texts(messages: Sequence[BaseMessage]) -> list[str]:
    """The assistant's earlier answers: text a draft must not just repeat."""
    return [
        m.content
        for m in messages
        if isinstance(m, AIMessage) and isinstance(m.content, str) and m.content.strip()
    ]


def _parse(text: str, template: ReportTemplate) -> dict[str, list[dict[str, Any]]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LLMResponseError(
            f"the model's report draft was not valid JSON ({exc.msg} at character {exc.pos})"
        ) from None
    if not isinstance(data, dict):
        raise LLMResponseError("the model's report draft was not a JSON object")
    out: dict[str, list[dict[str, Any]]] = {}
    for section in template.model_sections:
        items = data.get(section.name, [])
        if not isinstance(items, list):
            raise LLMResponseError(f"the draft's {section.name!r} was not a list of sentences")
        out[section.name] = [i for i in items if isinstance(i, dict)]
    return out


def _sentences(items: Iterable[dict[str, Any]], seen: set[str]) -> tuple[list[ReportSentence], int]:
    """The model's sentences, repeats of any earlier one dropped (small models loop)."""
    out: list[ReportSentence] = []
    dropped = 0
    for item in items:
        text = str(item.get("text", "")).strip()
        key = re.sub(r"\W+", " ", text.lower()).strip()
        if not key:
            continue
        if key in seen:
            dropped += 1
            continue
        seen.add(key)
        cites = item.get("citations", [])
        out.append(
            ReportSentence(
                text=text,
                citations=list(dict.fromkeys(str(c) for c in cites if c is not None)),
            )
        )
    return out, dropped


async def _ask(
    model: ChatModel,
    request_messages: list[Message],
    schema: dict[str, Any],
    spec: ReportTemplate,
    max_tokens: int,
    attempts: int,
) -> tuple[dict[str, list[dict[str, Any]]] | None, str | None]:
    """The parsed reply, or None and why after `attempts` tries (errors fed back each time)."""
    messages = list(request_messages)
    problem = "no attempt made"
    for attempt in range(1, attempts + 1):
        try:
            reply = await collect(
                model,
                ChatRequest(messages, max_tokens=max_tokens, temperature=0.0, json_schema=schema),
            )
        except LLMError as exc:  # server down or timed out: keep the measured findings
            return None, f"the model could not be reached ({exc})"
        try:
            return _parse(reply.text, spec), None
        except LLMResponseError as exc:
            cut = " (cut off at the token limit)" if reply.finish_reason == "length" else ""
            problem = f"{exc}{cut}"
            log.info("report draft attempt %d/%d: %s", attempt, attempts, problem)
            messages = [
                *request_messages,
                {"role": "assistant", "content": reply.text[:_FEEDBACK_CHARS]},
                {
                    "role": "user",
                    "content": f"That reply was unusable: {problem}. Reply again with one "
                    "JSON object only, with fewer and shorter sentences.",
                },
            ]
    return None, f"{problem}, {attempts} times"


async def draft_report(
    model: ChatModel,
    template: str | ReportTemplate,
    messages: Sequence[BaseMessage],
    passages: Iterable[Mapping[str, Any] | BaseModel] = (),
    *,
    attachments: Iterable[Attachment] = (),
    search: PassageSearch | None = None,
    max_tokens: int = 1024,
    attempts: int = ATTEMPTS,
) -> DraftReport:
    """Draft a report from the conversation, its tool results, images and passages.

    Sentences whose citations do not resolve, that cite nothing, state numbers no cited
    result states, or repeat the chat come back marked by the support check; nothing is
    dropped silently (repeated sentences are merged, with a note). `search` finds
    reference passages for the template and evidence (see `passages.related_passages`).
    """
    spec = load_template(template) if isinstance(template, str) else template
    attachments, passages = list(attachments), list(passages)
    evidence = collect_evidence(messages, passages, attachments)
    if search is not None:  # reference passages about what was measured
        extra = await asyncio.to_thread(search, spec, evidence)  # FAISS + embedding
        evidence = collect_evidence(messages, [*passages, *extra], attachments)
    measured = {s.name: measured_sentences(s.fill, evidence) for s in spec.sections if s.measured}
    notes: list[str] = []
    written: dict[str, list[ReportSentence]] = {}
    if spec.model_sections:
        guide = "\n".join(
            f"- {s.name} ({s.title}{', required' if s.required else ''}): {s.guidance}"
            for s in spec.model_sections
        )
        facts = "\n".join(
            f"- {x.text} [{', '.join(x.citations)}]" for xs in measured.values() for x in xs
        )
        system = SYSTEM.format(
            title=spec.title,
            sections=guide,
            measured=facts or "(none)",
            evidence=_evidence_block(evidence),
        )
        request_messages: list[Message] = [
            {"role": "system", "content": system},
            *_conversation(messages),
            {"role": "user", "content": f"Write the {spec.title} now, as JSON."},
        ]
        schema = report_schema(spec, [e.id for e in evidence], max_tokens)
        data, problem = await _ask(model, request_messages, schema, spec, max_tokens, attempts)
        if data is None:
            notes.append(
                f"The model wrote nothing usable: {problem}. This draft holds the measured "
                "findings only; write the interpretation and impression yourself."
            )
        seen: set[str] = set()
        for s in spec.model_sections:
            written[s.name], dropped = _sentences((data or {}).get(s.name, []), seen)
            if dropped:
                notes.append(f"{dropped} repeated sentence(s) of the model merged in {s.title}.")
    if not evidence:
        notes.append("The session has no tool results, image facts or passages to cite.")
    sections = [
        ReportSection(
            name=s.name,
            title=s.title,
            sentences=measured[s.name] if s.measured else written.get(s.name, []),
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
        notes=notes,
    )
    return check_support(report, chat=_chat_texts(messages))
