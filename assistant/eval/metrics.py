"""Metric functions: pure, small, each checked against hand-computed values in the tests.

Closed and open VQA follow the LLaVA-Med evaluation: closed questions by whether the
prediction gives the gold yes/no; open ones by token recall of the gold answer and token F1.
Reports use sacrebleu (BLEU-4) and rouge-score (ROUGE-L), the maintained packages.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence

_WORD = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?")
_NUMBER = re.compile(r"-?\d+(?:[.,]\d+)?")
_YES_NO = re.compile(r"\b(yes|no)\b")


def tokens(text: str) -> list[str]:
    """Lower-case word tokens (numbers keep their decimal point)."""
    return _WORD.findall(text.lower())


def normalize(text: str) -> str:
    """Lower case, punctuation removed, single spaces."""
    return " ".join(tokens(text))


def yes_no(text: str) -> str | None:
    """The first 'yes' or 'no' in `text`, or None."""
    found = _YES_NO.search(text.lower())
    return found.group(1) if found else None


def closed_correct(prediction: str, gold: str) -> tuple[bool, str | None]:
    """Closed question: yes/no compared as words; other closed answers by containment."""
    gold_n = normalize(gold)
    if gold_n in ("yes", "no"):
        parsed = yes_no(prediction)
        return parsed == gold_n, parsed
    pred_n = normalize(prediction)
    return bool(gold_n) and f" {gold_n} " in f" {pred_n} ", pred_n or None


def token_recall(prediction: str, gold: str) -> float:
    """Share of the gold answer's tokens that occur in the prediction (LLaVA-Med 'recall')."""
    gold_t = tokens(gold)
    if not gold_t:
        return 0.0
    pred = set(tokens(prediction))
    return sum(t in pred for t in gold_t) / len(gold_t)


def token_f1(prediction: str, gold: str) -> float:
    """Token F1 over multisets of tokens (SQuAD style)."""
    pred_c, gold_c = Counter(tokens(prediction)), Counter(tokens(gold))
    overlap = sum((pred_c & gold_c).values())
    if overlap == 0:
        return 0.0
    precision = overlap / sum(pred_c.values())
    recall = overlap / sum(gold_c.values())
    return 2 * precision * recall / (precision + recall)


def parse_number(text: str) -> float | None:
    """The first number in `text` ("1,234" is 1234; "3,5" is 3.5), or None."""
    for match in _NUMBER.finditer(text):
        raw = match.group(0)
        if re.fullmatch(r"-?\d{1,3}(,\d{3})+", raw) or re.fullmatch(r"-?\d+,\d{3}", raw):
            raw = raw.replace(",", "")
        return float(raw.replace(",", "."))
    return None


def number_correct(prediction: str, gold: float, tolerance: float) -> tuple[bool, float | None]:
    """Whether the first number given is within `tolerance` (relative) of `gold`."""
    value = parse_number(prediction)
    if value is None:
        return False, None
    allowed = tolerance * abs(gold) if gold else tolerance
    return abs(value - gold) <= allowed, value


def _json_field(text: str, key: str) -> str | None:
    for match in re.finditer(r"\{[^{}]*\}", text):
        try:
            data = json.loads(match.group(0))
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict) and key in data:
            return str(data[key])
    return None


def parse_choice(text: str, choices: Sequence[str], labels: str = "letters") -> int | None:
    """The 0-based option the prediction picks: by JSON {"answer": ...}, label, or option text.

    Labels are A, B, C... ("letters") or 1, 2, 3... ("numbers", as MultiPathQA asks).
    """
    n = len(choices)
    names = (
        [chr(ord("A") + i) for i in range(n)]
        if labels == "letters"
        else [str(i + 1) for i in range(n)]
    )
    answer = _json_field(text, "answer")
    for candidate in ([answer] if answer is not None else []) + [text]:
        pattern = r"\b([A-Z])\b" if labels == "letters" else r"\b(\d+)\b"
        flags = 0 if labels == "letters" else re.IGNORECASE
        for match in re.finditer(pattern, candidate.strip(), flags):
            if match.group(1) in names:
                return names.index(match.group(1))
        lowered = normalize(candidate)
        hits = [i for i, c in enumerate(choices) if normalize(c) and normalize(c) in lowered]
        if len(hits) == 1:
            return hits[0]
    return None


def parse_grade(text: str) -> int | None:
    """An ISUP grade 0-5: the JSON field "isup_grade" if given, else the last digit 0-5."""
    field = _json_field(text, "isup_grade")
    if field is not None and field.strip().isdigit() and 0 <= int(field) <= 5:
        return int(field)
    digits = re.findall(r"\b([0-5])\b", text)
    return int(digits[-1]) if digits else None


def balanced_accuracy(golds: Sequence[str], parsed: Sequence[str | None]) -> float:
    """Mean recall per gold class (unparsed predictions count as wrong)."""
    classes = sorted(set(golds))
    if not classes:
        return 0.0
    recalls = []
    for cls in classes:
        idx = [i for i, g in enumerate(golds) if g == cls]
        recalls.append(sum(parsed[i] == cls for i in idx) / len(idx))
    return sum(recalls) / len(recalls)


def bleu4(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU-4 (sacrebleu, 13a tokenisation), 0-100."""
    import sacrebleu

    return float(sacrebleu.corpus_bleu(list(predictions), [list(references)]).score)


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure (rouge-score, with stemming), 0-1."""
    from rouge_score import rouge_scorer  # type: ignore[import-untyped]

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    return float(scorer.score(reference, prediction)["rougeL"].fmeasure)


def label_f1(predicted: set[str], reference: set[str]) -> float:
    """F1 of two label sets; both empty is full agreement."""
    if not predicted and not reference:
        return 1.0
    overlap = len(predicted & reference)
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(predicted), overlap / len(reference)
    return 2 * precision * recall / (precision + recall)
