"""Follow-up questions on a draft ("why do you say effusion?"), answered from its evidence.

The sentence the question is about is found by BM25 over the report's sentences; the
answer quotes exactly the evidence that sentence cites (the tool result or passage), then
adds the model's explanation. A sentence citing nothing is said to cite nothing, and the
closest evidence is offered instead; a model that cannot be reached leaves the quotes.
"""

from __future__ import annotations

from pydantic import BaseModel

from assistant.llm import ChatModel, ChatRequest, collect
from assistant.report.evidence import Evidence
from assistant.report.model import DraftReport, ReportSentence, Support
from retrieval.hybrid import BM25Ranker
from tools.errors import LLMError

__all__ = ["FollowupAnswer", "answer_followup", "find_sentence", "quote"]

SYSTEM = """You explain a draft {title} to a clinician. Answer the question using only the \
evidence listed, citing ids in square brackets like [T1]. If the evidence does not support \
the sentence, say so plainly."""

_QUOTE_CHARS = 400
_CLOSEST = 2


class FollowupAnswer(BaseModel):
    """The answer, the sentence it is about (if found) and the evidence quoted."""

    text: str
    sentence: ReportSentence | None
    section: str | None
    evidence: list[Evidence]
    cited: bool = True
    """False when the evidence shown is the closest match, not what the sentence cites."""

    def markdown(self) -> str:
        """The answer as the UI and CLI show it: the sentence, the quotes, the explanation."""
        lines: list[str] = []
        if self.sentence is not None:
            support = (
                ""
                if self.sentence.support == Support.SUPPORTED
                else (f" ({self.sentence.support}: {self.sentence.problem})")
            )
            lines.append(f'**About:** "{self.sentence.text}"{support}')
        head = "Evidence it cites" if self.cited else "It cites nothing; closest evidence"
        lines.append(f"**{head}:**" if self.evidence else "**Evidence:** none in this report.")
        lines += [f"> [{e.id}] {e.label}: {quote(e)}" for e in self.evidence]
        lines.append("")
        lines.append(self.text)
        return "\n".join(lines)


def quote(evidence: Evidence) -> str:
    """The evidence as quoted in an answer (a tool's compact result, or the passage)."""
    text = evidence.text
    return text if len(text) <= _QUOTE_CHARS else text[: _QUOTE_CHARS - 1] + "…"


def find_sentence(report: DraftReport, question: str) -> tuple[str, ReportSentence] | None:
    """Find the (section name, sentence) `question` most likely refers to, if any."""
    pairs = report.sentences()
    ranker = BM25Ranker(range(len(pairs)), [s.text for _, s in pairs])
    best = ranker.rank(question, 1)
    if not best:
        return None
    section, sentence = pairs[best[0][0]]
    return section.name, sentence


def _closest(report: DraftReport, text: str) -> list[Evidence]:
    ranker = BM25Ranker(range(len(report.evidence)), [e.text for e in report.evidence])
    return [report.evidence[i] for i, _ in ranker.rank(text, _CLOSEST)]


async def answer_followup(
    model: ChatModel, report: DraftReport, question: str, *, max_tokens: int = 384
) -> FollowupAnswer:
    """Answer `question` about `report` with the evidence its sentence cites."""
    found = find_sentence(report, question)
    by_id = report.evidence_by_id()
    cited = True
    if found is None:
        section, sentence = None, None
        evidence = _closest(report, question)
        cited = False
        context = "The question matches no sentence of the report; the closest evidence follows."
    else:
        section, sentence = found
        evidence = [by_id[c] for c in sentence.citations if c in by_id]
        if not evidence:
            evidence, cited = _closest(report, sentence.text), False
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
    try:
        text = (await collect(model, request)).text.strip()
    except LLMError as exc:
        text = f"(The model could not explain further: {exc}. The quotes above are the evidence.)"
    return FollowupAnswer(
        text=text, sentence=sentence, section=section, evidence=evidence, cited=cited
    )
