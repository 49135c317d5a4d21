"""Metric functions against values worked out by hand."""

from __future__ import annotations

import pytest

from assistant.eval import metrics
from assistant.eval.labels import keyword_labels, load_labeler
from tools.errors import ConfigError


def test_closed_yes_no_is_the_first_yes_or_no_word() -> None:
    assert metrics.closed_correct("Yes, there is a mass.", "yes") == (True, "yes")
    assert metrics.closed_correct("No. Yes would be wrong.", "yes") == (False, "no")
    assert metrics.closed_correct("Nothing is seen", "no") == (False, None)  # "nothing" ≠ no


def test_closed_non_yes_no_answer_by_whole_word_containment() -> None:
    assert metrics.closed_correct("It is on the left side", "Left")[0]
    assert not metrics.closed_correct("leftover", "left")[0]


def test_token_recall_and_f1_by_hand() -> None:
    # gold tokens: on, the, left (3); prediction tokens: left, side, of, the, abdomen (5)
    assert metrics.token_recall("Left side of the abdomen", "On the left") == pytest.approx(2 / 3)
    # overlap 2: precision 2/5, recall 2/3 -> F1 = 2*(0.4*0.6667)/(0.4+0.6667) = 0.5
    assert metrics.token_f1("Left side of the abdomen", "On the left") == pytest.approx(0.5)
    assert metrics.token_f1("", "CT") == 0.0
    assert metrics.token_recall("anything", "") == 0.0


def test_parse_number_and_tolerance() -> None:
    assert metrics.parse_number("about 1,234 nuclei") == 1234
    assert metrics.parse_number("3,5 mm") == 3.5
    assert metrics.parse_number("-12.5 HU") == -12.5
    assert metrics.parse_number("none") is None
    assert metrics.number_correct("I count 110 nuclei", 100, 0.1) == (True, 110)
    assert metrics.number_correct("I count 111 nuclei", 100, 0.1) == (False, 111)
    assert metrics.number_correct("40", 40, 0.0) == (True, 40)


def test_parse_choice_by_json_label_or_text() -> None:
    options = ["Heart", "Lung", "Liver"]
    assert metrics.parse_choice('```json\n{"answer": 2}\n```', options, "numbers") == 1
    assert metrics.parse_choice("The answer is C.", options, "letters") == 2
    assert metrics.parse_choice("It looks like lung tissue", options, "letters") == 1
    assert metrics.parse_choice("heart or lung", options, "letters") is None  # ambiguous
    assert metrics.parse_choice("option 7", options, "numbers") is None  # out of range


def test_parse_grade() -> None:
    assert metrics.parse_grade('{"primary_pattern": 4, "isup_grade": 3}') == 3
    assert metrics.parse_grade("Gleason 3+4, ISUP grade 2") == 2
    assert metrics.parse_grade("cannot tell") is None


def test_balanced_accuracy_by_hand() -> None:
    golds = ["a", "a", "a", "b"]
    parsed = ["a", "a", "b", None]
    # recall(a) = 2/3, recall(b) = 0 -> 1/3; plain accuracy would be 1/2
    assert metrics.balanced_accuracy(golds, parsed) == pytest.approx(1 / 3)


def test_bleu4_and_rouge_l() -> None:
    text = "the heart size is normal and the lungs are clear"
    assert metrics.bleu4([text], [text]) == pytest.approx(100.0)
    assert metrics.bleu4(["completely different words here today"], [text]) < 1.0
    # LCS of "heart is normal" in "the heart size is normal": 3 tokens;
    # precision 3/3, recall 3/5 -> F = 2*1*0.6/1.6 = 0.75
    assert metrics.rouge_l("heart is normal", "the heart size is normal") == pytest.approx(0.75)


def test_label_f1_and_keyword_labeler() -> None:
    assert metrics.label_f1(set(), set()) == 1.0
    assert metrics.label_f1({"a", "b"}, {"b", "c"}) == pytest.approx(0.5)
    assert keyword_labels("Small left effusion. No pneumothorax.") == {"effusion"}
    assert keyword_labels("Heart is enlarged; no focal consolidation") == {"cardiomegaly"}


def test_labeler_is_pluggable_and_errors_name_the_problem() -> None:
    assert load_labeler("assistant.eval.labels:keyword_labels") is keyword_labels
    with pytest.raises(ConfigError, match="module:function"):
        load_labeler("nocolon")
    with pytest.raises(ConfigError, match="cannot import"):
        load_labeler("no_such_module_xyz:f")
