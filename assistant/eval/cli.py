"""`medassist eval SUITE --data DIR`: run a suite bare and/or as the agent, then summarise."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import shlex
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from assistant.config import AppConfig, ModelProfile, load_config, load_profile
from assistant.eval.counting import CountingModel
from assistant.eval.items import EvalItem, Mode
from assistant.eval.labels import load_labeler
from assistant.eval.plot import write_plot
from assistant.eval.readers import read_suite
from assistant.eval.runner import EvalRunner, RunOptions, RunStats, dump_items, load_results
from assistant.eval.suite import SuiteSpec, available_suites, load_suite
from assistant.eval.summary import PLUMBING_NOTE, aggregate, git_commit, is_plumbing, to_markdown
from assistant.llm import OpenAIChatModel
from assistant.server import VLLMServer, is_healthy
from assistant.service import Assistant
from tools.errors import ConfigError, LLMUnavailableError

MODES: dict[str, tuple[Mode, ...]] = {
    "bare": ("bare",),
    "agent": ("agent",),
    "both": ("bare", "agent"),
}


def suites_help() -> str:
    """Every suite with its description and the data layout it expects."""
    try:
        suites = available_suites()
    except ConfigError as exc:
        return f"(a suite file is invalid: {exc})"
    out = ["suites (configs/eval/*.yaml) and the --data layout each expects:"]
    for name, spec in suites.items():
        out.append(f"\n  {name}: {spec.description}")
        out.append(textwrap.indent(spec.layout.rstrip(), "      "))
    out.append(f"\nSummaries made with an embedded or test-only profile say: {PLUMBING_NOTE}.")
    return "\n".join(out)


def add_eval_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `medassist eval`."""
    p = sub.add_parser(
        "eval",
        help="evaluate the assistant on a labelled suite, agent against bare model",
        description="Run a suite's questions bare (question + image straight to the model) "
        "and/or through the agent with its tools; write per-item JSONL, a summary (Markdown, "
        "JSON) and a plot.",
        epilog=suites_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("suite", help="suite name (configs/eval/<suite>.yaml)")
    p.add_argument("--data", type=Path, required=True, help="the suite's data folder")
    p.add_argument("--model", help="model profile (configs/models), default from configs/app.yaml")
    p.add_argument("--llm-url", help="an already running OpenAI-compatible server (…/v1)")
    p.add_argument("--llm-port", type=int, help="port for a server started here (default 8000)")
    p.add_argument("--mode", choices=sorted(MODES), default="both")
    p.add_argument("--limit", type=int, help="first N items only")
    p.add_argument("--concurrency", type=int, default=4, help="items in flight (default 4)")
    p.add_argument("--out", type=Path, help="results folder (default .data/eval/<suite>-<model>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--session", choices=["item", "case"], help="agent session scope")
    p.add_argument("--max-tokens", type=int, help="answer token cap (default: the profile's)")
    p.add_argument("--max-seconds", type=float, help="time budget: start no item after it")
    p.add_argument("--max-total-tokens", type=int, help="token budget for the whole run")
    p.add_argument("--labeler", help="report label scorer 'module:function' (default keywords)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--keep-sessions",
        action="store_true",
        help="keep each item's session (<out>/sessions; open it with `medassist ui --data-dir`)",
    )
    p.set_defaults(func=cmd_eval)


def _profile(config: AppConfig, max_tokens: int | None) -> ModelProfile:
    profile = load_profile(config.model)
    if max_tokens is None:
        return profile
    sampling = profile.sampling.model_copy(update={"max_tokens": max_tokens})
    return profile.model_copy(update={"sampling": sampling})


def served_models(url: str) -> list[str]:
    """Model ids the server at `url` serves (its /models endpoint)."""
    try:
        response = httpx.get(f"{url.rstrip('/')}/models", timeout=10.0)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise LLMUnavailableError(f"cannot list the models served at {url}: {exc}") from exc
    return [str(m["id"]) for m in response.json().get("data", [])]


def data_hash(items: list[EvalItem]) -> str:
    """sha256 of the items (questions, answers, image names and sizes), first 16 hex digits."""
    digest = hashlib.sha256(dump_items(items).encode())
    for item in items:
        for path in item.images:
            digest.update(f"{path.name}:{path.stat().st_size}".encode())
    return digest.hexdigest()[:16]


def build_summary(
    meta: dict[str, Any], results_path: Path, items: list[EvalItem], modes: tuple[Mode, ...]
) -> tuple[dict[str, Any], list[Any]]:
    """Summary of the results for these items and modes (a resumed run included)."""
    ids = {i.id for i in items}
    found = [r for r in load_results(results_path).values() if r.item_id in ids]
    results = [r for r in found if r.mode in modes]
    return {"meta": meta, "modes": {m: aggregate(results, m) for m in modes}}, results


async def _evaluate(
    args: argparse.Namespace, spec: SuiteSpec, items: list[EvalItem], missing: int
) -> int:
    overrides: dict[str, Any] = {}
    if args.model:
        overrides["model"] = args.model
    if args.llm_url:
        overrides["llm"] = {"base_url": args.llm_url}
    elif args.llm_port:
        overrides["llm"] = {"port": args.llm_port}
    config = load_config(overrides)
    profile = _profile(config, args.max_tokens or spec.max_tokens)
    out: Path = (args.out or config.data_dir / "eval" / f"{spec.name}-{profile.name}").resolve()
    server = None
    url = config.llm.url
    if not args.llm_url and not is_healthy(url):
        server = VLLMServer(config, profile)
        sys.stderr.write(f"Starting vLLM for {profile.name} (log: {server.log_path}) ...\n")
        server.start()
        try:
            server.wait_ready()
        except BaseException:
            server.stop()
            raise
        url = server.url
    try:
        ids = served_models(url)
        if profile.served_name not in ids:
            raise ConfigError(
                f"the server at {url} serves {ids}, not {profile.served_name!r} of profile "
                f"{profile.name!r}; pass the matching --model"
            )
        run_config = config.model_copy(update={"data_dir": out / "sessions"})
        client = OpenAIChatModel(
            url, profile.served_name, timeout_s=config.llm.timeout_s, max_retries=1
        )
        options = RunOptions(
            modes=MODES[args.mode],
            concurrency=max(1, args.concurrency),
            session=args.session or spec.session,
            resume=args.resume,
            max_seconds=args.max_seconds,
            max_total_tokens=args.max_total_tokens,
            progress=not args.no_progress,
            keep_sessions=args.keep_sessions,
        )
        out.mkdir(parents=True, exist_ok=True)
        async with Assistant(run_config, model=CountingModel(client), profile=profile) as bot:
            runner = EvalRunner(bot, spec, out, options, load_labeler(args.labeler))
            stats = await runner.run(items)
    finally:
        if server is not None:
            server.stop()
    meta = _meta(args, spec, profile, url, ids, items, missing, stats)
    summary, results = build_summary(meta, runner.path, items, options.modes)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    (out / "summary.md").write_text(to_markdown(summary))
    write_plot(summary, results, out / "summary.png")
    sys.stdout.write(to_markdown(summary))
    sys.stderr.write(f"Results: {out}/ (results.jsonl, summary.md, summary.json, summary.png)\n")
    return 0


def _meta(
    args: argparse.Namespace,
    spec: SuiteSpec,
    profile: ModelProfile,
    url: str,
    ids: list[str],
    items: list[EvalItem],
    missing: int,
    stats: RunStats,
) -> dict[str, Any]:
    plumbing = is_plumbing(profile)
    return {
        "suite": spec.name,
        "profile": profile.name,
        "served_name": profile.served_name,
        "server_model_id": ", ".join(ids),
        "llm_url": url,
        "data": str(args.data.resolve()),
        "data_hash": data_hash(items),
        "items": len(items),
        "missing_images": missing,
        "modes": list(MODES[args.mode]),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": git_commit(),
        "plumbing": plumbing,
        "note": PLUMBING_NOTE if plumbing else None,
        "concurrency": args.concurrency,
        "max_tokens": profile.sampling.max_tokens,
        "wall_s": round(stats.wall_s, 2),
        "ran": stats.ran,
        "reused": stats.reused,
        "not_run": stats.not_run,
        "stopped": stats.stopped,
        "throughput_items_per_s": round(stats.ran / stats.wall_s, 4) if stats.wall_s else None,
        "completion_tokens_per_s": (
            round(stats.usage.completion_tokens / stats.wall_s, 2) if stats.wall_s else None
        ),
        "command": "medassist " + shlex.join(sys.argv[sys.argv.index("eval") :])
        if "eval" in sys.argv
        else f"medassist eval {args.suite} --data {args.data}",
    }


def cmd_eval(args: argparse.Namespace) -> int:
    """Read the suite, run it, write results and the summary."""
    spec = load_suite(args.suite)
    read = read_suite(args.data.resolve(), spec)
    items = read.items[: args.limit] if args.limit else read.items
    if read.missing_images:
        sys.stderr.write(
            f"{read.missing_images} items left out: their images are not in {args.data}\n"
        )
    return asyncio.run(_evaluate(args, spec, items, read.missing_images))
