"""``medassist tool NAME --image PATH``: run one tool as the person would from the UI.

The image is uploaded to a new (or the given) session, the tool's arguments default to
what the image's kind settles (tools/narrowing.py: segment on H&E counts nuclei, on a
chest X-ray outlines the lungs), ``--set key=value`` overrides them, and the run goes
through the `Assistant` façade, so it joins the session's conversation as a tool step
the model sees next turn. The structured result is printed as JSON, artefact paths
included. ``--schema`` prints the argument schema as narrowed for that image instead.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.config import load_config
from assistant.events import ToolFinished, TurnFailed
from tools.attachments import Attachment, ImageClass
from tools.errors import InputError, ToolArgumentError
from tools.geometry import Box
from tools.narrowing import Drawn, Scope, check_arguments, defaults, image_schema, targets

if TYPE_CHECKING:
    from assistant.service import Assistant

__all__ = ["add_tool_command", "parse_settings"]

DRAWN_KEYS = ("box", "points", "background_points")
"""Arguments a person gives by drawing in the UI; on the command line they come by --set."""


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def parse_settings(pairs: list[str]) -> dict[str, Any]:
    """``key=value`` pairs as arguments; values are JSON when they parse, else strings."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--set takes key=value, got {pair!r}")
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw
    return out


def _drawn(image_id: str, settings: dict[str, Any]) -> tuple[Drawn, ...]:
    """What --set gives that the UI would take from a drawing (box, points)."""
    if not any(k in settings for k in DRAWN_KEYS):
        return ()
    try:
        box = Box.model_validate(settings["box"]) if settings.get("box") else None
        points = tuple(tuple(p) for p in settings.get("points") or ())
        background = tuple(tuple(p) for p in settings.get("background_points") or ())
    except (ValueError, TypeError) as exc:
        raise ToolArgumentError(
            f"box is {{x, y, width, height}} and points [[x, y], ...]: {exc}"
        ) from None
    return (Drawn(image_id, box, points, background),)


def _what(att: Attachment) -> str:
    cls = att.facts.image_class
    kind = att.kind.value if cls is None else f"{att.kind.value}, {cls.value.replace('_', ' ')}"
    return f"{att.id} ({kind})"


async def _run(args: argparse.Namespace) -> int:
    overrides: dict[str, Any] = {}
    if args.data_dir:
        overrides["data_dir"] = str(args.data_dir.resolve())
    config = load_config(overrides)
    settings = parse_settings(args.set or [])
    from assistant.service import Assistant  # heavy (graph, checkpointer): only when used

    async with Assistant(config) as assistant:
        tool = assistant.registry.get(args.name)
        session = args.session or assistant.new_session(f"medassist tool {args.name}").id
        att = await assistant.aadd_upload(session, args.image)
        if args.image_class is not None:
            facts = att.facts.model_copy(
                update={"image_class": ImageClass(args.image_class), "image_class_by": "person"}
            )
            att = assistant.sessions.update_facts(session, att.id, facts)
        attachments = assistant.attachments(session).values()
        scope = Scope.of(attachments, assistant.tool_deps, _drawn(att.id, settings))
        schema = image_schema(tool, att, scope)
        if schema is None:
            raise ToolArgumentError(_not_fitting(args.name, att, scope))
        if args.schema:
            _out(json.dumps(schema, indent=2))
            return 0
        arguments = {**(defaults(tool, att, scope) or {}), **settings}
        try:
            check_arguments(schema, arguments, _what(att))
        except ToolArgumentError as exc:
            raise ToolArgumentError(
                f"{exc} (if the image is not what it says, use --class)"
            ) from None
        return await _execute(assistant, session, att, args.name, arguments)


def _not_fitting(name: str, att: Attachment, scope: Scope) -> str:
    hint = ""
    if name == "segment" and not targets(att, scope):
        hint = " (no segmentation target fits it; correct its class with --class, or give a box)"
    return f"{name} does not apply to {_what(att)}{hint}."


async def _execute(
    assistant: Assistant, session: str, att: Attachment, name: str, arguments: dict[str, Any]
) -> int:
    finished: ToolFinished | None = None
    async for event in assistant.run_tool(session, name, arguments):
        if isinstance(event, TurnFailed):
            raise ToolArgumentError(event.message)
        if isinstance(event, ToolFinished):
            finished = event
    if finished is None:
        raise ToolArgumentError(f"{name} did not run")
    folder = assistant.session_dir(session)
    ok = finished.status == "success"
    report = {
        "session": session,
        "image_id": att.id,
        "image_class": att.facts.image_class,
        "tool": name,
        "arguments": arguments,
        "status": finished.status,
        "result": json.loads(finished.content) if ok else None,
        "error": None if ok else finished.content,
        "artifacts": [str(folder / a["path"]) for a in finished.artifacts],
    }
    _out(json.dumps(report, indent=2, ensure_ascii=False))
    return 0 if ok else 1


def cmd_tool(args: argparse.Namespace) -> int:
    """Run one tool on an image (or print its narrowed schema)."""
    return asyncio.run(_run(args))


def add_tool_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``tool`` to the `medassist` command."""
    p = subparsers.add_parser(
        "tool",
        help="run one tool on an image and print its result as JSON",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", help="tool name, e.g. segment, describe_image, view_dicom")
    p.add_argument("--image", type=Path, required=True, help="image, DICOM, series ZIP or slide")
    p.add_argument("--session", help="run in this session (default: a new one)")
    p.add_argument(
        "--set", action="append", metavar="KEY=VALUE",
        help="an argument (JSON value, e.g. target=tissue or 'box={\"x\":0,...}'); repeatable",
    )  # fmt: skip
    p.add_argument(
        "--class", dest="image_class", choices=[c.value for c in ImageClass],
        help="correct what the image is before running (as the person can in the UI)",
    )  # fmt: skip
    p.add_argument("--schema", action="store_true", help="print the narrowed argument schema")
    p.add_argument("--data-dir", type=Path, help="sessions database and uploads (default .data)")
    p.set_defaults(func=cmd_tool)
