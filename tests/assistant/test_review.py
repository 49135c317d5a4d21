"""Every answer says which tools it rests on and marks sentences the results do not back."""

from __future__ import annotations

from pathlib import Path

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from assistant.config import load_config
from assistant.events import AnswerReviewed, TurnDone
from assistant.review import REVIEW_KEY, AnswerReview, review_answer, sentences
from assistant.service import Assistant
from assistant.testing import ScriptedChatModel

SEGMENTED = ToolMessage(
    content='{"count": 2, "total_area": {"value": 1234.5, "unit": "mm²"}}',
    tool_call_id="c1",
    name="segment",
)


def test_an_answer_without_tools_says_so_and_claimed_actions_are_marked() -> None:
    history = [HumanMessage(content="What is in the slide?")]
    answer = "I zoomed into the most cellular region. The tissue looks dense."
    review = review_answer(answer, history)
    assert review.summary() == "No tool was used for this answer."
    assert [(m.sentence, m.problem) for m in review.marks] == [
        ("I zoomed into the most cellular region.", "claims an action that did not run "
         "(slide_zoom)"),
    ]  # fmt: skip


def test_numbers_must_come_from_the_results_or_the_person() -> None:
    history = [
        HumanMessage(content="Segment the lungs; the nodule was 8 mm last year."),
        AIMessage(content="", tool_calls=[{"id": "c1", "name": "segment", "args": {}}]),
        SEGMENTED,
    ]
    answer = (
        "The segmentation found 2 lungs covering 1234.5 mm². The nodule was 8 mm before. "
        "Their mean density is 47 HU."
    )
    review = review_answer(answer, history)
    assert review.summary() == "Tools used for this answer: segment."
    assert [m.sentence for m in review.marks] == ["Their mean density is 47 HU."]
    assert review.marks[0].problem == "no tool result or message states 47"
    # Rounded restatements of a result count as backed (1234.5 -> 1235, 1.2 thousand no).
    assert not review_answer("They cover about 1235 mm².", history).marks


def test_tools_of_earlier_turns_back_claims_but_are_not_listed_for_this_one() -> None:
    history = [
        HumanMessage(content="Segment the lungs."),
        AIMessage(content="", tool_calls=[{"id": "c1", "name": "segment", "args": {}}]),
        SEGMENTED,
        AIMessage(content="Done."),
        HumanMessage(content="And what did the segmentation show?"),
    ]
    review = review_answer("The segmentation showed 2 lungs.", history)
    assert review.summary() == "No tool was used for this answer."
    assert not review.marks


def test_sentences_split_on_ends_and_lines() -> None:
    assert sentences("One. Two? Three!\n- four\n\n5 items.") == [
        "One.", "Two?", "Three!", "- four", "5 items."
    ]  # fmt: skip


async def test_the_review_is_streamed_and_stored_with_the_answer(
    tmp_path: Path, gradient_png: Path
) -> None:
    model = ScriptedChatModel(['{"tool": "answer"}', "I segmented the lungs: 99 nuclei."])
    config = load_config({"data_dir": str(tmp_path / "data")})
    async with Assistant(config, model=model) as assistant:
        session = assistant.new_session().id
        assistant.add_upload(session, gradient_png, "gradient.png")
        events = [e async for e in assistant.run_turn(session, "Anything?")]
        (reviewed,) = [e for e in events if isinstance(e, AnswerReviewed)]
        assert reviewed.summary == "No tool was used for this answer."
        assert reviewed.marks and "segment" in reviewed.marks[0][1]
        assert isinstance(events[-1], TurnDone)
        stored = (await assistant.history(session))[-1]
        assert isinstance(stored, AIMessage)
        assert stored.content == "I segmented the lungs: 99 nuclei."
        again = AnswerReview.model_validate(stored.additional_kwargs[REVIEW_KEY])
        assert again.summary() == reviewed.summary and len(again.marks) == 1


def test_answers_get_the_report_check_of_numbers_and_sides() -> None:
    """The same number and side checks as report sentences: rounding as written, percentages
    of fractions, and a side the results do not name."""
    lungs = ToolMessage(
        content='{"regions": [{"label": "right lung", "area": 16012.25, "share": 0.42}]}',
        tool_call_id="c1",
        name="segment",
    )
    history = [
        HumanMessage(content="Segment the lungs."),
        AIMessage(content="", tool_calls=[{"id": "c1", "name": "segment", "args": {}}]),
        lungs,
    ]
    answer = (
        "The right lung measures about 16012 mm². It is 42% of the image. "
        "The left lung is clear. The right lung measures 17000 mm²."
    )
    marks = [(m.sentence, m.problem) for m in review_answer(answer, history).marks]
    assert marks == [
        ("The left lung is clear.", "says left; the results name only the other side"),
        ("The right lung measures 17000 mm².", "no tool result or message states 17000"),
    ]
