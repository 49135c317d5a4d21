"""Score one answer against its item: the parsed answer, the headline score, side metrics."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from assistant.eval import metrics
from assistant.eval.items import EvalItem, ToolUse
from assistant.eval.labels import Labeler, keyword_labels


@dataclass
class Scored:
    """What scoring found: the answer as parsed, 0-1 headline score, named extra scores."""

    parsed: str | None
    score: float
    scores: dict[str, float] = field(default_factory=dict)


def _label(item: EvalItem, index: int | None) -> str | None:
    if index is None:
        return None
    return chr(ord("A") + index) if item.choice_labels == "letters" else str(index + 1)


def score_answer(
    item: EvalItem,
    prediction: str,
    labeler: Labeler = keyword_labels,
    headline: str | None = None,
) -> Scored:
    """Score `prediction` by the item's answer type (see items.AnswerType).

    `headline` names the side score that becomes the score (a suite's `metrics`, e.g. "f1"
    for open questions); the default is the first of `suite.METRICS` for the type.
    """
    scored = _score(item, prediction, labeler)
    if headline is not None and headline in scored.scores:
        scored.score = scored.scores[headline]
    return scored


def _score(item: EvalItem, prediction: str, labeler: Labeler) -> Scored:
    kind = item.answer_type
    if kind == "closed":
        ok, parsed = metrics.closed_correct(prediction, item.gold)
        return Scored(parsed, float(ok))
    if kind == "open":
        recall = metrics.token_recall(prediction, item.gold)
        f1 = metrics.token_f1(prediction, item.gold)
        return Scored(metrics.normalize(prediction) or None, recall, {"recall": recall, "f1": f1})
    if kind == "choice":
        parsed = _label(item, metrics.parse_choice(prediction, item.choices, item.choice_labels))
        return Scored(parsed, float(parsed == item.gold))
    if kind == "number":
        ok, value = metrics.number_correct(prediction, float(item.gold), item.tolerance)
        return Scored(None if value is None else f"{value:g}", float(ok))
    if kind == "grade":
        grade = metrics.parse_grade(prediction)
        parsed = None if grade is None else str(grade)
        return Scored(parsed, float(parsed == item.gold.strip()))
    rouge = metrics.rouge_l(prediction, item.gold)
    agreement = metrics.label_f1(set(labeler(prediction)), set(labeler(item.gold)))
    return Scored(None, rouge, {"rouge_l": rouge, "label_f1": agreement})


def score_tools(item: EvalItem, tools: Sequence[ToolUse]) -> tuple[bool | None, bool | None]:
    """Whether the expected tool was called with the required arguments, and ran without error.

    None when the item expects no particular tool.
    """
    expected = item.expected_tool
    if expected is None:
        return None, None
    matching = [
        t
        for t in tools
        if t.name == expected.name
        and all(t.arguments.get(k) == v for k, v in expected.arguments.items())
    ]
    return bool(matching), any(t.status == "success" for t in matching)


NAVIGATION_TOOLS = frozenset({"slide_overview", "slide_zoom"})
"""Calls counted as navigation steps (MultiPathQA reports them per question)."""
