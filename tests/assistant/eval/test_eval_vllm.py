"""`medassist eval` end to end against the real vLLM server with the embedded model.

Five tool-use items (built from a generated tree by the real builder) run bare and as the
agent; the run is interrupted after its first result and resumed through the CLI, which
writes the summary and the plot. Plumbing only: SmolLM2-135M's answers mean nothing.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from assistant.cli import main
from assistant.config import load_config, load_profile
from assistant.eval.counting import CountingModel
from assistant.eval.readers import read_suite
from assistant.eval.runner import EvalRunner, RunOptions, load_results
from assistant.eval.suite import load_suite
from assistant.eval.summary import PLUMBING_NOTE
from assistant.eval.tooluse import build_suite
from assistant.llm import OpenAIChatModel
from assistant.server import VLLMServer
from assistant.service import Assistant
from tests.assistant.eval import fixtures

pytestmark = pytest.mark.vllm

KEEP = (
    "nuclei_he:image01",
    "lung_area:16747_3_1",
    "dicom_window:pdd_693_UNCR_head_CT_CQ500",
    "cxr14:nih_00000001_000:cardiomegaly",
    "slide_region:purple",
)
MAX_TOKENS = 12


def _five_items(tmp_path: Path) -> Path:
    data = tmp_path / "suite"
    build_suite(fixtures.shared_tree(tmp_path / "shared"), data)
    lines = (data / "items.jsonl").read_text().splitlines()
    kept = [line for line in lines if json.loads(line)["id"] in KEEP]
    (data / "items.jsonl").write_text("\n".join(kept) + "\n")
    return data


async def _interrupted_run(server: VLLMServer, data: Path, out: Path) -> None:
    spec = load_suite("tooluse")
    items = read_suite(data, spec).items
    profile = load_profile("smollm2-135m")
    profile = profile.model_copy(
        update={"sampling": profile.sampling.model_copy(update={"max_tokens": MAX_TOKENS})}
    )
    config = load_config({"data_dir": str(out / "sessions"), "llm": {"base_url": server.url}})
    client = CountingModel(OpenAIChatModel(server.url, profile.served_name))
    async with Assistant(config, model=client, profile=profile) as bot:
        runner = EvalRunner(bot, spec, out, RunOptions(concurrency=2, progress=False))
        task = asyncio.create_task(runner.run(items))
        results, deadline = out / "results.jsonl", time.monotonic() + 300
        while not (results.exists() and results.read_text().strip()):
            assert time.monotonic() < deadline, "no result within 300 s"
            assert not task.done(), "the run ended before it could be interrupted"
            await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def test_tooluse_both_modes_interrupted_then_resumed(
    text_server: VLLMServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, out = _five_items(tmp_path), tmp_path / "out"
    asyncio.run(_interrupted_run(text_server, data, out))
    partial = load_results(out / "results.jsonl")
    assert 1 <= len(partial) < 10
    code = main(
        [
            "eval",
            "tooluse",
            "--data",
            str(data),
            "--llm-url",
            text_server.url,
            "--model",
            "smollm2-135m",
            "--out",
            str(out),
            "--resume",
            "--mode",
            "both",
            "--max-tokens",
            str(MAX_TOKENS),
            "--concurrency",
            "4",
            "--no-progress",
        ]
    )
    assert code == 0
    final = load_results(out / "results.jsonl")
    assert set(final) == {(m, i) for m in ("bare", "agent") for i in KEEP}
    for key, earlier in partial.items():
        if earlier.error is None:
            assert final[key] == earlier  # resumed, not re-run
    for result in final.values():
        assert result.error is None, result.error
        assert result.requests >= 1 and result.prompt_tokens > 0
        assert 0 < result.completion_tokens <= MAX_TOKENS * result.requests + 160 * 6
        assert result.score is not None
        if result.mode == "bare":
            assert result.requests == 1 and result.tools == [] and result.tool_right is None
        elif result.item_id != "cxr14:nih_00000001_000:cardiomegaly":
            assert result.tool_right is not None  # the four items that need a tool are scored
        for tool in result.tools:
            assert tool.status in ("success", "error")
    summary = json.loads((out / "summary.json").read_text())
    meta = summary["meta"]
    assert meta["plumbing"] and meta["note"] == PLUMBING_NOTE
    assert meta["server_model_id"] == "smollm2-135m-instruct"
    assert meta["reused"] == len([r for r in partial.values() if r.error is None])
    assert meta["ran"] == 10 - meta["reused"] and meta["commit"] != "unknown"
    assert summary["modes"]["bare"]["n"] == summary["modes"]["agent"]["n"] == 5
    assert "tools" in summary["modes"]["agent"]
    markdown = (out / "summary.md").read_text()
    assert PLUMBING_NOTE in markdown and "| dicom_window | accuracy | 1 |" in markdown
    assert markdown in capsys.readouterr().out
    assert (out / "summary.png").read_bytes()[:4] == b"\x89PNG"
