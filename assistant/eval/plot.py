"""The summary plot: score per category, agent against bare, and the latency distribution."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assistant.eval.items import ItemResult
from assistant.eval.summary import PLUMBING_NOTE


def plot_title(meta: dict[str, Any]) -> str:
    """What the figure names: suite, profile, server model, date, data hash and commit."""
    title = (
        f"{meta['suite']} · {meta['profile']} ({meta['server_model_id']}) · {meta['date']}\n"
        f"data {str(meta.get('data_hash') or '?')[:12]} · commit {meta.get('commit') or '?'}"
    )
    if meta["plumbing"]:
        title += f"\n{PLUMBING_NOTE}"
    return title


def write_plot(summary: dict[str, Any], results: list[ItemResult], path: Path) -> Path:
    """Draw and save the PNG at `path` (matplotlib, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    meta = summary["meta"]
    modes = [m for m in ("bare", "agent") if summary["modes"].get(m)]
    cats = sorted({c for m in modes for c in summary["modes"][m]["categories"]})
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    width = 0.8 / max(1, len(modes))
    for k, mode in enumerate(modes):
        per = summary["modes"][mode]["categories"]
        values = [100 * per[c]["value"] if c in per else 0.0 for c in cats]
        bars = left.bar([i + k * width for i in range(len(cats))], values, width, label=mode)
        left.bar_label(bars, fmt="%.0f", fontsize=7)
    left.set_xticks([i + width * (len(modes) - 1) / 2 for i in range(len(cats))])
    left.set_xticklabels(cats, rotation=30, ha="right", fontsize=8)
    left.set_ylim(0, 100)
    left.set_ylabel("score per category (%)")
    left.legend()
    latencies = [[r.latency_s for r in results if r.mode == m] for m in modes]
    right.boxplot(latencies, tick_labels=modes)
    right.set_ylabel("latency per item (s)")
    title = plot_title(meta)
    fig.suptitle(title, fontsize=10, color="darkred" if meta["plumbing"] else "black")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
