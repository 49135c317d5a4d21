"""Follow-up questions answered with the cited evidence of the sentence they are about."""

from __future__ import annotations

from assistant.report import answer_followup, check_support
from assistant.report.followup import find_sentence
from assistant.testing import DeadChatModel, ScriptedChatModel
from tests.assistant.report.test_export import _report


async def test_why_effusion_uses_the_cited_evidence() -> None:
    report = _report()
    model = ScriptedChatModel(["The segmentation measured 250 ml on the left [T1]."])
    answer = await answer_followup(model, report, "Why do you say 250 ml?")
    assert answer.section == "findings" and answer.sentence is not None
    assert answer.sentence.text == "Left effusion, 250 ml."
    assert [e.id for e in answer.evidence] == ["T1"]
    assert answer.text == "The segmentation measured 250 ml on the left [T1]."
    prompt = model.requests[0].messages[1]["content"]
    assert '"Left effusion, 250 ml."' in prompt and "[T1] segment:" in prompt
    assert "kb-1" not in prompt  # only the evidence this sentence cites


async def test_unsupported_sentence_is_flagged_to_the_model() -> None:
    model = ScriptedChatModel(["Nothing in the evidence supports that."])
    answer = await answer_followup(model, _report(), "why is the heart normal?")
    assert answer.sentence is not None and answer.evidence == []
    prompt = model.requests[0].messages[1]["content"]
    assert "Support check: unsupported (cites no evidence)" in prompt and "(no evidence)" in prompt


async def test_question_about_nothing_in_the_report() -> None:
    report = check_support(_report())
    assert find_sentence(report, "what about the spleen?") is None
    model = ScriptedChatModel(["The report does not mention the spleen."])
    answer = await answer_followup(model, report, "what about the spleen?")
    assert answer.sentence is None and answer.evidence == [] and not answer.cited
    assert "matches no sentence" in model.requests[0].messages[1]["content"]
    assert "**Evidence:** none in this report." in answer.markdown()


async def test_answer_quotes_the_cited_tool_result() -> None:
    model = ScriptedChatModel(["It was measured [T1]."])
    answer = await answer_followup(model, _report(), "Why do you say 250 ml?")
    shown = answer.markdown()
    assert '**About:** "Left effusion, 250 ml."' in shown
    assert '> [T1] segment: {"volume_ml":250,"side":"left"}' in shown
    assert shown.endswith("It was measured [T1].")


async def test_uncited_sentence_offers_the_closest_evidence() -> None:
    report = check_support(_report())
    sentence = report.sections[0].sentences[1].model_copy(update={"text": "Effusion on the left."})
    findings = report.sections[0].model_copy(update={"sentences": [sentence]})
    report = check_support(report.model_copy(update={"sections": [findings]}))
    answer = await answer_followup(ScriptedChatModel(["x"]), report, "effusion on the left?")
    assert answer.sentence is not None and answer.sentence.citations == []
    assert not answer.cited and answer.evidence and answer.evidence[0].id == "kb-1"
    assert "It cites nothing; closest evidence" in answer.markdown()


async def test_a_dead_model_still_gets_the_quotes() -> None:
    answer = await answer_followup(DeadChatModel(), _report(), "Why 250 ml?")
    assert [e.id for e in answer.evidence] == ["T1"]
    assert "could not explain further" in answer.text
