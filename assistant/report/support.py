"""The support check: which sentences are backed by what they cite.

A sentence is *unsupported* when it cites nothing, cites ids that are not evidence, or
repeats earlier chat text that its citations do not back; a *mismatch* when it states a
number that none of its cited evidence states (the whole tool result is searched, not the
clipped summary the model saw); *weak* when its citations resolve but share none of its
content words or contradict its side (left/right). Otherwise it is *supported*. The check
is lexical, deliberately simple and explainable; it flags sentences for the reader, it does
not prove them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence

from assistant.report.evidence import Evidence
from assistant.report.model import DraftReport, ReportSentence, Support
from retrieval.hybrid import tokenize
from tools.errors import ToolArgumentError

__all__ = [
    "check_sentence",
    "check_support",
    "repeats_chat",
    "revise_sentence",
    "side_conflict",
    "unstated_numbers",
]

_NUMBER = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)(\s*%)?")
_STEM = 5
_REPEAT = 0.8
"""Share of a sentence's content words found in one chat message that makes it a repeat."""
_STOP = frozenset(
    {
        "the",
        "and",
        "with",
        "without",
        "there",
        "this",
        "that",
        "these",
        "those",
        "from",
        "into",
        "onto",
        "over",
        "under",
        "than",
        "then",
        "also",
        "both",
        "each",
        "either",
        "neither",
        "which",
        "while",
        "where",
        "when",
        "were",
        "been",
        "being",
        "have",
        "has",
        "had",
        "does",
        "did",
        "done",
        "not",
        "nor",
        "none",
        "are",
        "was",
        "its",
        "seen",
        "noted",
        "shows",
        "show",
        "showing",
        "appears",
        "appear",
        "likely",
        "possible",
        "probably",
        "may",
        "might",
        "can",
        "here",
    }
)


def _stems(text: str) -> set[str]:
    return {t[:_STEM] for t in tokenize(text) if t not in _STOP and t.isalpha() and len(t) > 2}


def _sides(text: str) -> set[str]:
    return {t for t in tokenize(text) if t in ("left", "right")}


def _numbers(text: str) -> set[float]:
    return {float(n) for n, _ in _NUMBER.findall(text)}


def _full_text(e: Evidence) -> str:
    """Everything an item states: its whole result when kept, else the summary."""
    whole = json.dumps(e.data, ensure_ascii=False) if e.data is not None else ""
    return f"{e.text} {whole}"


def _known(raw: str, percent: bool, known: set[float]) -> bool:
    """Whether a stated number is one of `known`, as people round it.

    A number stands for a known one that rounds to it at the places it is written with:
    0.49 for 0.4873, 7.1 for 7.08, 14500 for 14500.25 (not 15000); 42% stands for a
    fraction of 0.42.
    """
    value = float(raw)
    places = len(raw.partition(".")[2])
    half = 0.5 * 10.0**-places + 1e-9  # half a unit in the last place written
    if any(abs(k - value) <= half for k in known):
        return True
    return percent and any(abs(k * 100 - value) < 0.5 for k in known if 0 <= k <= 1)


def unstated_numbers(text: str, grounds: str) -> list[str]:
    """The numbers `text` states that `grounds` does not (as written, e.g. "42%")."""
    known = _numbers(grounds)
    return sorted(
        {f"{float(raw):g}{'%' if pct else ''}" for raw, pct in _NUMBER.findall(text)
         if not _known(raw, bool(pct), known)}
    )  # fmt: skip


def side_conflict(text: str, grounds: str) -> set[str]:
    """The sides (left/right) `text` names where `grounds` names only the other side."""
    said, backed = _sides(text), _sides(grounds)
    return said if said and backed and not said & backed else set()


def repeats_chat(text: str, chat: Sequence[str]) -> bool:
    """Whether `text` is (nearly) copied from one of the earlier chat messages."""
    words = _stems(text)
    if len(words) < 3:
        return False
    return any(len(words & _stems(m)) >= _REPEAT * len(words) for m in chat)


def check_sentence(
    sentence: ReportSentence, evidence: dict[str, Evidence], chat: Sequence[str] = ()
) -> ReportSentence:
    """Return `sentence` with its support level and, if not supported, the reason.

    `chat` is the earlier conversation (the assistant's answers): a model sentence copied
    from it is unsupported unless its citations fully back it.
    """
    checked = _check(sentence, evidence)
    if (
        sentence.origin == "model"
        and checked.support != Support.SUPPORTED
        and repeats_chat(sentence.text, chat)
    ):
        why = checked.problem or "cites no evidence"
        return checked.model_copy(
            update={
                "support": Support.UNSUPPORTED,
                "problem": f"repeats earlier chat text without evidence ({why})",
            }
        )
    return checked


def _check(sentence: ReportSentence, evidence: dict[str, Evidence]) -> ReportSentence:
    if not sentence.citations:
        return sentence.model_copy(
            update={"support": Support.UNSUPPORTED, "problem": "cites no evidence"}
        )
    unknown = [c for c in sentence.citations if c not in evidence]
    if unknown:
        return sentence.model_copy(
            update={
                "support": Support.UNSUPPORTED,
                "problem": f"cites unknown evidence: {', '.join(unknown)}",
            }
        )
    cited = " ".join(_full_text(evidence[c]) for c in sentence.citations)
    missing = unstated_numbers(sentence.text, cited)
    if missing:
        return sentence.model_copy(
            update={
                "support": Support.MISMATCH,
                "problem": f"the cited evidence does not state {', '.join(missing)}",
            }
        )
    sides = side_conflict(sentence.text, cited)
    if sides:
        return sentence.model_copy(
            update={
                "support": Support.WEAK,
                "problem": f"the sentence says {'/'.join(sorted(sides))}, the evidence does not",
            }
        )
    words = _stems(sentence.text)
    if words and not words & _stems(cited):
        return sentence.model_copy(
            update={
                "support": Support.WEAK,
                "problem": "the cited evidence shares no term with the sentence",
            }
        )
    return sentence.model_copy(update={"support": Support.SUPPORTED, "problem": None})


def check_support(
    report: DraftReport, extra: Iterable[Evidence] = (), chat: Sequence[str] = ()
) -> DraftReport:
    """Return a copy of `report` whose sentences carry their support level (re-run after edits)."""
    evidence = {**report.evidence_by_id(), **{e.id: e for e in extra}}
    sections = [
        s.model_copy(update={"sentences": [check_sentence(x, evidence, chat) for x in s.sentences]})
        for s in report.sections
    ]
    return report.model_copy(update={"sections": sections})


def revise_sentence(
    report: DraftReport,
    section: str,
    index: int,
    *,
    text: str | None = None,
    citations: list[str] | None = None,
) -> DraftReport:
    """Return a copy with one sentence edited (by the user in the UI) and re-checked.

    An empty `text` removes the sentence.
    """
    target = report.section(section)
    if target is None:
        names = [s.name for s in report.sections]
        raise ToolArgumentError(f"the report has no section {section!r}; it has {names}")
    if not 0 <= index < len(target.sentences):
        raise ToolArgumentError(
            f"section {section!r} has {len(target.sentences)} sentences; no sentence {index}"
        )
    sentences = list(target.sentences)
    old = sentences[index]
    new = old.model_copy(
        update={
            "text": old.text if text is None else text.strip(),
            "citations": old.citations if citations is None else list(citations),
        }
    )
    if new.text:
        sentences[index] = check_sentence(new, report.evidence_by_id())
    else:
        del sentences[index]
    edited = [
        s.model_copy(update={"sentences": sentences}) if s.name == section else s
        for s in report.sections
    ]
    return report.model_copy(update={"sections": edited})
