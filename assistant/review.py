"""What an answer is grounded in: the tools run for it, and sentences the results do not back.

Every chat answer is reviewed without the model, like report sentences are (see
`assistant.report.support`): the tools run in this turn are listed (or the answer says
plainly that none were), and sentences are marked when

- they claim an action no tool performed in this session (``zoomed into``, ``segmented``,
  ``windowed``, ``searched the knowledge base`` ...): the first thing to catch, since a
  small model readily narrates work it never did;
- they state a number that no tool result, retrieved passage or message of the person
  in this session states, or name a side (left/right) where those name only the other:
  the same number and side checks report sentences get (`unstated_numbers`,
  `side_conflict` in `assistant.report.support`), against the whole session, since a
  consultation's later answers rest on earlier turns' results.

The check is lexical and explainable; it flags sentences for the reader, it proves nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from langchain_core.messages import AnyMessage, HumanMessage, ToolMessage
from pydantic import BaseModel, Field

from assistant.messages import SYNTHETIC_KEY
from assistant.report.support import side_conflict, unstated_numbers

__all__ = ["REVIEW_KEY", "AnswerReview", "SentenceMark", "ToolRun", "review_answer"]

REVIEW_KEY = "review"
"""Key of the review in the answer's `additional_kwargs`."""

ACTION_CLAIMS: dict[str, re.Pattern[str]] = {
    "slide_zoom": re.compile(r"\bzoom(?:ed|ing|s)?\b|\bmagnified\b", re.IGNORECASE),
    "slide_overview": re.compile(r"\b(?:an |the )?overview\b", re.IGNORECASE),
    "segment": re.compile(
        r"\bsegment(?:ed|ing|ation)\b|\bmasks?\b|\boutlined\b|\bdelineated\b"
        r"|\bcounted\b|\bcount of (?:the )?nuclei\b",
        re.IGNORECASE,
    ),
    "view_dicom": re.compile(r"\bwindow(?:ed|ing)\b|\b(?:lung|bone|brain) window\b", re.I),
    "search_knowledge": re.compile(
        r"\bsearched\b|\bknowledge base\b|\bretrieved\b|\breference (?:text|passages?)\b",
        re.IGNORECASE,
    ),
}
"""Words that claim a tool's action; the tool must have run for the claim to stand."""

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")


class ToolRun(BaseModel):
    """One tool call of the turn and how it ended."""

    name: str
    status: str


class SentenceMark(BaseModel):
    """A sentence of the answer that the session's results do not back, and why."""

    sentence: str
    problem: str


class AnswerReview(BaseModel):
    """The review stored with an answer."""

    tools: list[ToolRun] = Field(default_factory=list)
    marks: list[SentenceMark] = Field(default_factory=list)

    def summary(self) -> str:
        """One line for the reader: which tools this answer rests on, or that none ran."""
        if not self.tools:
            return "No tool was used for this answer."
        runs = ", ".join(
            f"{t.name}{'' if t.status == 'success' else ' (failed)'}" for t in self.tools
        )
        return f"Tools used for this answer: {runs}."


def sentences(text: str) -> list[str]:
    """The answer cut into sentences (list items and lines count as sentences too)."""
    out: list[str] = []
    for line in text.splitlines():
        out += [s.strip() for s in _SENTENCE.split(line) if s.strip()]
    return out


def _this_turn(history: Sequence[AnyMessage]) -> list[AnyMessage]:
    """The messages since the person last wrote (tool runs of their own included)."""
    for i in range(len(history) - 1, -1, -1):
        msg = history[i]
        if isinstance(msg, HumanMessage) and not msg.additional_kwargs.get(SYNTHETIC_KEY):
            return list(history[i + 1 :])
    return list(history)


def review_answer(answer: str, history: Sequence[AnyMessage]) -> AnswerReview:
    """Review `answer` against the session `history` that precedes it."""
    turn = _this_turn(history)
    runs = [
        ToolRun(name=m.name or "tool", status=m.status)
        for m in turn
        if isinstance(m, ToolMessage)
    ]
    ran = {m.name for m in history if isinstance(m, ToolMessage) and m.status == "success"}
    grounds = " ".join(
        m.content if isinstance(m.content, str) else json.dumps(m.content)
        for m in history
        if isinstance(m, ToolMessage | HumanMessage)
    )
    marks: list[SentenceMark] = []
    for sentence in sentences(answer):
        claimed = [tool for tool, words in ACTION_CLAIMS.items() if words.search(sentence)]
        not_run = [tool for tool in claimed if tool not in ran]
        if not_run:
            marks.append(
                SentenceMark(
                    sentence=sentence,
                    problem=f"claims an action that did not run ({', '.join(not_run)})",
                )
            )
            continue
        unknown = unstated_numbers(sentence, grounds)
        if unknown:
            stated = ", ".join(unknown)
            marks.append(
                SentenceMark(
                    sentence=sentence, problem=f"no tool result or message states {stated}"
                )
            )
            continue
        sides = side_conflict(sentence, grounds)
        if sides:
            marks.append(
                SentenceMark(
                    sentence=sentence,
                    problem=f"says {'/'.join(sorted(sides))}; the results name only the other side",
                )
            )
    return AnswerReview(tools=runs, marks=marks)
