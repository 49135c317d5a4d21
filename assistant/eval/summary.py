"""Aggregate per-item results into the summary (JSON and Markdown) that names its provenance.

Every summary names the model, profile, server model id, suite, data hash, date and commit,
and carries the plumbing warning whenever a plumbing profile produced it.
"""

from __future__ import annotations

import statistics
import subprocess
from collections.abc import Sequence
from typing import Any

from assistant.config import ModelProfile
from assistant.eval import metrics
from assistant.eval.items import ItemResult, Mode
from tools.settings import REPO_ROOT

PLUMBING_NOTE = "plumbing model — not a measure of medical accuracy"


def is_plumbing(profile: ModelProfile) -> bool:
    """A test-only profile, or one of the embedded models built here (tiny, CPU): plumbing."""
    return profile.test_only or profile.source.kind == "builtin"


def git_commit() -> str:
    """The checked-out commit, with '+dirty' when tracked files differ from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


_LABELS = {"recall": "token_recall", "f1": "token_f1"}


def _metric(results: Sequence[ItemResult], default: str) -> str:
    """The name of what the items' scores are (the suite's metric), as the table shows it."""
    named = {r.metric for r in results if r.metric}
    if len(named) != 1:
        return default
    name = named.pop()
    return _LABELS.get(name, name)


def _category(results: Sequence[ItemResult]) -> dict[str, Any]:
    scores = [r.score or 0.0 for r in results]  # an error counts as a wrong answer
    kinds = {r.answer_type for r in results}
    out: dict[str, Any] = {"n": len(results), "errors": sum(r.error is not None for r in results)}
    if all(r.balanced for r in results):
        parsed = [r.parsed if r.error is None else None for r in results]
        out |= {
            "metric": "balanced_accuracy",
            "value": metrics.balanced_accuracy([r.gold for r in results], parsed),
            "accuracy": statistics.fmean(scores),
        }
    elif kinds == {"open"}:
        f1 = [r.scores.get("f1", 0.0) for r in results]
        out |= {
            "metric": _metric(results, "token_recall"),
            "value": statistics.fmean(scores),
            "f1": statistics.fmean(f1),
        }
    elif kinds == {"report"}:
        ok = [r for r in results if r.error is None]
        bleu = metrics.bleu4([r.prediction for r in ok], [r.gold for r in ok]) if ok else 0.0
        labels = [r.scores.get("label_f1", 0.0) for r in results]
        out |= {
            "metric": _metric(results, "rouge_l"),
            "value": statistics.fmean(scores),
            "bleu4": bleu,
            "label_f1": statistics.fmean(labels),
        }
    else:
        out |= {"metric": "accuracy", "value": statistics.fmean(scores)}
    return out


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def aggregate(results: Sequence[ItemResult], mode: Mode) -> dict[str, Any] | None:
    """Scores per category and overall, tool use, latency and tokens for one mode."""
    rows = [r for r in results if r.mode == mode]
    if not rows:
        return None
    categories = sorted({r.category for r in rows})
    latency = [r.latency_s for r in rows]
    out: dict[str, Any] = {
        "n": len(rows),
        "errors": sum(r.error is not None for r in rows),
        "score": statistics.fmean(r.score or 0.0 for r in rows),
        "categories": {c: _category([r for r in rows if r.category == c]) for c in categories},
        "latency_s": {
            "mean": statistics.fmean(latency),
            "p50": _quantile(latency, 0.5),
            "p90": _quantile(latency, 0.9),
            "max": max(latency),
        },
        "prompt_tokens": sum(r.prompt_tokens for r in rows),
        "completion_tokens": sum(r.completion_tokens for r in rows),
        "requests": sum(r.requests for r in rows),
    }
    expected = [r for r in rows if r.tool_right is not None]
    if expected:
        out["tools"] = {
            "items_expecting_a_tool": len(expected),
            "right_tool": statistics.fmean(float(bool(r.tool_right)) for r in expected),
            "valid_arguments": statistics.fmean(float(bool(r.tool_valid)) for r in expected),
            "calls_per_item": statistics.fmean(len(r.tools) for r in rows),
        }
    if any(r.navigation_steps for r in rows):
        out["navigation_steps_mean"] = statistics.fmean(r.navigation_steps for r in rows)
    return out


def _pct(value: float, metric: str) -> str:
    return f"{value:.1f}" if metric == "bleu4" else f"{100 * value:.1f}%"


def to_markdown(summary: dict[str, Any]) -> str:
    """The summary as a Markdown page (tables of scores, tools, latency, provenance)."""
    meta = summary["meta"]
    modes = {m: summary["modes"].get(m) for m in ("bare", "agent")}
    lines = [f"# {meta['suite']}: {meta['profile']} ({meta['server_model_id']})", ""]
    if meta["plumbing"]:
        lines += [f"> **{PLUMBING_NOTE}.**", ""]
    lines += ["| | |", "|---|---|"]
    for key in (
        "suite",
        "profile",
        "served_name",
        "server_model_id",
        "llm_url",
        "data",
        "data_hash",
        "items",
        "missing_images",
        "date",
        "commit",
        "concurrency",
        "wall_s",
        "stopped",
    ):
        lines.append(f"| {key} | {meta.get(key)} |")
    lines += [
        "",
        "## Scores",
        "",
        "| category | metric | n | bare | agent |",
        "|---|---|---|---|---|",
    ]
    cats = sorted({c for m in modes.values() if m for c in m["categories"]})
    for cat in cats:
        cells = [modes[m]["categories"].get(cat) if modes[m] else None for m in ("bare", "agent")]
        first = next(c for c in cells if c)
        vals = [_pct(c["value"], c["metric"]) if c else "—" for c in cells]
        lines.append(f"| {cat} | {first['metric']} | {first['n']} | {vals[0]} | {vals[1]} |")
    overall = [_pct(m["score"], "") if m else "—" for m in modes.values()]
    lines += [f"| **all** | mean item score | | {overall[0]} | {overall[1]} |", ""]
    agent = modes["agent"]
    if agent and "tools" in agent:
        t = agent["tools"]
        lines += [
            "## Tool use (agent)",
            "",
            f"- right tool called: {100 * t['right_tool']:.1f}% of "
            f"{t['items_expecting_a_tool']} items that need one",
            f"- ... with valid arguments (tool ran): {100 * t['valid_arguments']:.1f}%",
            f"- tool calls per item: {t['calls_per_item']:.2f}",
            "",
        ]
    lines += [
        "## Cost",
        "",
        "| mode | errors | latency mean / p50 / p90 s | requests | prompt tok | completion tok |",
        "|---|---|---|---|---|---|",
    ]
    for name, m in modes.items():
        if m:
            lat = m["latency_s"]
            lines.append(
                f"| {name} | {m['errors']} | {lat['mean']:.2f} / {lat['p50']:.2f} / "
                f"{lat['p90']:.2f} | {m['requests']} | {m['prompt_tokens']} | "
                f"{m['completion_tokens']} |"
            )
    lines += ["", f"Command: `{meta['command']}`", ""]
    return "\n".join(lines)
