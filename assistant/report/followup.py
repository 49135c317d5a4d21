"""Follow-up questions on a draft ("why do you say effusion?"), answered from its evidence.

The sentence the question is about is found by BM25 over the report's sentences; the
answer request carries that sentence, its support level and exactly the evidence it cites.
"""

from __future__ import annotations

from pydantic import BaseModel

from assistant.llm import ChatModel, ChatRequest, collect
from assistant.report.evidence import Evidence
from assistant.report.model import DraftReport, ReportSentence, Support
from retrieval.hybrid import BM25Ranker

__all__ = ["FollowupAnswer", "answer_followup", "find_sentence"]

SYSTEM = """You explain a draft {title} to a clinician. Answer the question using only the \
evidence listed, citing ids in square brackets like [T1]. If the evidence does not support \
the sentence, say so plainly."""


class FollowupAnswer(BaseModel):
    """The answer, the sentence it is about (if found) and the evidence shown to the model."""

    text: str
    sentence: ReportSentence | None
    section: str | None
    evidence: list[Evidence]


def find_sentence(report: DraftReport, question: str) -> tuple[str, ReportSentence] | None:
    """Find the (section name, sentence) `question` most likely refers to, if any."""
    pairs = report.sentences()
    ranker = BM25Ranker(range(len(pairs)), [s.text for _, s in pairs])
    best = ranker.rank(question, 1)
    if not best:
        return None
    section, sentence = pairs[best[0][0]]
    return section.name, sentence


async def answer_followup(
    model: ChatModel, report: DraftReport, question: str, *, max_tokens: int = 384
) -> FollowupAnswer:
    """Answer `question` about `report` with the evidence its sentence cites."""
    found = find_sentence(report, question)
    by_id = report.evidence_by_id()
    if found is None:
        section, sentence = None, None
        evidence = report.evidence
        context = "The question matches no sentence of the report; all evidence follows."
    else:
        section, sentence = found
        evidence = [by_id[c] for c in sentence.citations if c in by_id]
        status = (
            "It is supported by the evidence below."
            if sentence.support == Support.SUPPORTED
            else f"Support check: {sentence.support} ({sentence.problem})."
        )
        context = f'The report says ({section}): "{sentence.text}". {status}'
    lines = "\n".join(f"[{e.id}] {e.label}: {e.text}" for e in evidence) or "(no evidence)"
    request = ChatRequest(
        [
            {"role": "system", "content": SYSTEM.format(title=report.title)},
            {"role": "user", "content": f"{context}\nEvidence:\n{lines}\n\nQuestion: {question}"},
        ],
        max_tokens=max_tokens,
    )
    reply = await collect(model, request)
    return FollowupAnswer(
        text=reply.text.strip(), sentence=sentence, section=section, evidence=evidence
    )
