"""Aggregation, the Markdown summary with its provenance and plumbing note, and the plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from assistant.config import load_profile
from assistant.eval.items import ItemResult, ToolUse
from assistant.eval.plot import plot_title, write_plot
from assistant.eval.summary import PLUMBING_NOTE, aggregate, is_plumbing, to_markdown


def _r(mode: str, cat: str, gold: str, parsed: str | None, score: float, **kw: Any) -> ItemResult:
    return ItemResult(
        item_id=f"{cat}-{gold}-{parsed}-{score}",
        mode=mode,
        category=cat,  # type: ignore[arg-type]
        question="q",
        gold=gold,
        answer_type=kw.pop("answer_type", "choice"),
        parsed=parsed,
        score=score,
        **kw,
    )


RESULTS = [
    _r("bare", "gtex", "a", "a", 1.0, balanced=True, latency_s=1.0),
    _r("bare", "gtex", "a", "a", 1.0, balanced=True, latency_s=2.0),
    _r("bare", "gtex", "a", "b", 0.0, balanced=True, latency_s=3.0),
    _r("bare", "gtex", "b", None, 0.0, balanced=True, latency_s=4.0),
    _r(
        "bare",
        "open",
        "on the left",
        "left",
        0.5,
        answer_type="open",
        scores={"f1": 0.4},
        latency_s=5.0,
    ),
    _r(
        "agent",
        "open",
        "x",
        None,
        0.0,
        answer_type="open",
        error="LLMTimeoutError: slow",
        latency_s=9.0,
    ),
    _r(
        "agent",
        "gtex",
        "a",
        "a",
        1.0,
        balanced=True,
        tool_right=True,
        tool_valid=False,
        tools=[ToolUse(name="slide_zoom", arguments={})],
        navigation_steps=1,
        latency_s=7.0,
    ),
]


def test_aggregate_by_hand() -> None:
    bare = aggregate(RESULTS, "bare")
    assert bare is not None
    gtex = bare["categories"]["gtex"]
    assert gtex["metric"] == "balanced_accuracy"
    assert gtex["value"] == pytest.approx((2 / 3 + 0) / 2)  # recall a 2/3, recall b 0
    assert gtex["accuracy"] == pytest.approx(0.5)
    assert bare["categories"]["open"] == {
        "n": 1,
        "errors": 0,
        "metric": "token_recall",
        "value": 0.5,
        "f1": 0.4,
    }
    assert bare["score"] == pytest.approx(2.5 / 5)
    assert bare["latency_s"]["p50"] == 3.0 and bare["latency_s"]["max"] == 5.0
    assert "tools" not in bare
    agent = aggregate(RESULTS, "agent")
    assert agent is not None
    assert agent["errors"] == 1 and agent["score"] == pytest.approx(0.5)  # error = wrong
    assert agent["tools"]["right_tool"] == 1.0 and agent["tools"]["valid_arguments"] == 0.0
    assert agent["navigation_steps_mean"] == pytest.approx(0.5)


def _summary(plumbing: bool) -> dict[str, Any]:
    meta = {
        "suite": "s",
        "profile": "p",
        "server_model_id": "m",
        "plumbing": plumbing,
        "date": "2026-12-02 00:00 UTC",
        "command": "medassist eval s --data d",
        "data_hash": "0f1e2d3c4b5a69788796a5b4",
        "commit": "d719b9c",
    }
    return {"meta": meta, "modes": {m: aggregate(RESULTS, m) for m in ("bare", "agent")}}


def test_markdown_names_provenance_and_plumbing() -> None:
    text = to_markdown(_summary(True))
    assert PLUMBING_NOTE in text
    assert "| gtex | balanced_accuracy | 4 | 33.3% | 100.0% |" in text
    assert "right tool called: 100.0% of 1 items" in text
    assert "`medassist eval s --data d`" in text
    assert PLUMBING_NOTE not in to_markdown(_summary(False))


def test_plumbing_is_decided_by_profile_fields() -> None:
    assert is_plumbing(load_profile("smollm2-135m"))  # built here from a PyPI package
    assert is_plumbing(load_profile("tiny-llava"))  # test_only
    assert not is_plumbing(load_profile("medgemma-4b-it"))
    assert not is_plumbing(load_profile("qwen2.5-vl-7b-instruct"))


def test_plot_is_a_png(tmp_path: Path) -> None:
    path = write_plot(_summary(True), RESULTS, tmp_path / "plot.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_plot_title_names_the_run() -> None:
    meta = _summary(True)["meta"]
    title = plot_title(meta).splitlines()
    assert title == [
        "s · p (m) · 2026-12-02 00:00 UTC",
        "data 0f1e2d3c4b5a · commit d719b9c",
        PLUMBING_NOTE,
    ]
    assert PLUMBING_NOTE not in plot_title(_summary(False)["meta"])
