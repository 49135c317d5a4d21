"""The runner with the real graph and a scripted model: modes, tool scoring, resume, budgets."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from assistant.config import load_config
from assistant.eval.counting import CountingModel
from assistant.eval.items import EvalItem, ItemResult
from assistant.eval.readers import read_suite
from assistant.eval.runner import EvalRunner, RunOptions, load_results, render_prompt
from assistant.eval.suite import load_suite
from assistant.llm import ChatChunk, ChatRequest
from assistant.service import Assistant
from assistant.testing import ScriptedChatModel
from tests.assistant.eval import fixtures
from tools.errors import InputError, LLMUnavailableError

DESCRIBE = '{"tool": "describe_image", "arguments": {"image_id": "img1"}}'
ANSWER = '{"tool": "answer"}'


def _items(tmp_path: Path, n: int = 1) -> list[EvalItem]:
    data = tmp_path / "data"
    rows = []
    for k in range(n):
        fixtures.png(data / "files" / f"w{k}.png", 10 * k, (32, 24))
        rows.append(
            {
                "id": f"width{k}",
                "question": "How wide is the image in pixels?",
                "gold": "32",
                "answer_type": "number",
                "tolerance": 0.0,
                "images": [f"files/w{k}.png"],
                "category": "size",
                "expected_tool": {"name": "describe_image"},
            }
        )
    (data / "items.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    return read_suite(data, load_suite("tooluse")).items


def _assistant(tmp_path: Path, script: list[str | Exception]) -> Assistant:
    config = load_config({"data_dir": str(tmp_path / "sessions")})
    return Assistant(config, model=CountingModel(ScriptedChatModel(script)))


async def test_bare_and_agent_record_answers_tools_and_scores(tmp_path: Path) -> None:
    items = _items(tmp_path)
    script: list[str | Exception] = ["It is 31 pixels wide.", DESCRIBE, ANSWER, "32 pixels."]
    async with _assistant(tmp_path, script) as bot:
        runner = EvalRunner(
            bot, load_suite("tooluse"), tmp_path / "out", RunOptions(progress=False)
        )
        stats = await runner.run(items)
        bare_request = bot.model.inner.requests[0]  # type: ignore[attr-defined]
        bot_sessions = bot.list_sessions()
    assert stats.ran == 2 and stats.stopped is None
    results = load_results(tmp_path / "out" / "results.jsonl")
    bare, agent = results[("bare", "width0")], results[("agent", "width0")]
    assert (bare.parsed, bare.score, bare.tools, bare.tool_right) == ("31", 0.0, [], None)
    assert (agent.parsed, agent.score) == ("32", 1.0)
    assert [t.name for t in agent.tools] == ["describe_image"]
    assert agent.tools[0].status == "success" and '"width_px":32' in agent.tools[0].content
    assert agent.tool_right and agent.tool_valid and agent.requests == 3
    assert bot_sessions == []  # deleted after each item unless asked to keep them
    # Bare mode: the app's answer prompt without tools, the question as the suite puts it.
    system, user = bare_request.messages[0], bare_request.messages[-1]
    assert "Tools you can use: none" in system["content"]
    assert user["content"].startswith("How wide is the image in pixels?\nAnswer with a number.")
    assert bare_request.json_schema is None and not bare_request.tools


async def test_errors_are_recorded_and_resume_reruns_only_what_is_missing(tmp_path: Path) -> None:
    items = _items(tmp_path, 2)
    out, spec = tmp_path / "out", load_suite("tooluse")
    bare = RunOptions(modes=("bare",), progress=False)
    dead = LLMUnavailableError("the model server at http://x/v1 is not reachable")
    async with _assistant(tmp_path, ["32", dead]) as bot:
        await EvalRunner(bot, spec, out, bare).run(items)
    first = load_results(out / "results.jsonl")
    assert first[("bare", "width0")].score == 1.0
    assert "not reachable" in (first[("bare", "width1")].error or "")
    async with _assistant(tmp_path, ["32"]) as bot:
        with pytest.raises(InputError, match="already holds results; pass --resume"):
            await EvalRunner(bot, spec, out, bare).run(items)
        resumed = RunOptions(modes=("bare",), progress=False, resume=True)
        stats = await EvalRunner(bot, spec, out, resumed).run(items)
    assert (stats.ran, stats.reused) == (1, 1)
    final = load_results(out / "results.jsonl")
    assert final[("bare", "width1")].error is None and final[("bare", "width1")].score == 1.0


async def test_time_budget_stops_before_any_item(tmp_path: Path) -> None:
    items = _items(tmp_path, 2)
    async with _assistant(tmp_path, []) as bot:
        options = RunOptions(modes=("bare",), progress=False, max_seconds=0.0)
        stats = await EvalRunner(bot, load_suite("tooluse"), tmp_path / "o", options).run(items)
    assert (stats.ran, stats.not_run, stats.stopped) == (0, 2, "time budget")


async def test_per_case_sessions_keep_a_case_together(tmp_path: Path) -> None:
    spec = load_suite("chestagentbench")
    items = read_suite(fixtures.chestagentbench(tmp_path / "cab"), spec).items
    script: list[str | Exception] = [ANSWER, "C", ANSWER, "A) option A", ANSWER, "B"]
    async with _assistant(tmp_path, script) as bot:
        options = RunOptions(modes=("agent",), progress=False, session="case", keep_sessions=True)
        await EvalRunner(bot, spec, tmp_path / "out", options).run(items)
        sessions = bot.list_sessions()
        turns = sorted([sum(m.type == "human" for m in await bot.history(s.id)) for s in sessions])
    assert turns == [1, 2]  # two cases, not three sessions; case c1 asked twice in one
    scores = {k[1]: r.score for k, r in load_results(tmp_path / "out" / "results.jsonl").items()}
    assert scores == {"c1_q1": 1.0, "c1_q2": 1.0, "c2_q1": 0.0}


def test_render_prompt_fills_choices_then_question() -> None:
    spec = load_suite("tooluse").model_copy(
        update={"prompts": {"choice": "{question}\n{choices}\nGive the {label}."}}
    )
    item = EvalItem(
        id="1", question="Which {weird} one?", gold="B", answer_type="choice", choices=("x", "y")
    )
    assert render_prompt(spec, item) == "Which {weird} one?\nA. x\nB. y\nGive the letter."


class _UsageModel:
    """Answers "32" and reports 100 prompt and 5 completion tokens, as vLLM's usage chunk."""

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        yield ChatChunk(text="32")
        yield ChatChunk(prompt_tokens=100, completion_tokens=5, finish_reason="stop")


async def test_token_budget_stops_the_run_once_spent(tmp_path: Path) -> None:
    items = _items(tmp_path, 3)
    config = load_config({"data_dir": str(tmp_path / "sessions")})
    async with Assistant(config, model=CountingModel(_UsageModel())) as bot:
        options = RunOptions(modes=("bare",), progress=False, max_total_tokens=150)
        stats = await EvalRunner(bot, load_suite("tooluse"), tmp_path / "o", options).run(items)
        spent = bot.model.total.total  # type: ignore[attr-defined]
    # 105 tokens after the first item (under 150: the second starts), 210 after the second.
    assert (stats.ran, stats.not_run, stats.stopped) == (2, 1, "token budget")
    assert spent == 210


async def test_a_suite_chooses_its_headline_metric(tmp_path: Path) -> None:
    """`metrics: {open: f1}` makes F1 the score of open questions, and the summary says so."""
    from assistant.eval.suite import SuiteSpec
    from assistant.eval.summary import aggregate

    with pytest.raises(ValueError, match="metric 'f1' does not score number questions"):
        SuiteSpec.model_validate(
            {**load_suite("tooluse").model_dump(), "metrics": {"number": "f1"}}
        )
    spec = SuiteSpec.model_validate(
        {**load_suite("tooluse").model_dump(), "metrics": {"open": "f1"}}
    )
    item = EvalItem(id="o1", question="What organ?", gold="left lung", answer_type="open")
    out = tmp_path / "out"

    async def run(suite: SuiteSpec, where: Path) -> list[ItemResult]:
        async with _assistant(tmp_path, ["the lung is left of the heart"]) as bot:
            options = RunOptions(modes=("bare",), progress=False)
            await EvalRunner(bot, suite, where, options).run([item])
        return list(load_results(where / "results.jsonl").values())

    [by_f1] = await run(spec, out)
    [by_recall] = await run(load_suite("tooluse"), tmp_path / "out2")
    assert by_recall.score == 1.0 and by_recall.metric == "recall"  # both gold words named
    assert by_f1.metric == "f1" and by_f1.score == by_f1.scores["f1"]
    assert 0.0 < by_f1.score < 1.0  # extra words cost precision
    summary = aggregate([by_f1], "bare")
    assert summary is not None
    [category] = summary["categories"].values()
    assert category["metric"] == "token_f1"
