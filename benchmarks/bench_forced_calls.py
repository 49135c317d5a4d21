"""Forced tool calls from the embedded model, before and after narrowing the schemas.

Labelled images of ../shared/data are uploaded through the `Assistant` façade (so the
intake check and the image-class classifier run as for a person). For each image and
forced tool (segment, view_dicom) the real model server (vLLM, SmolLM2-135M by default)
chooses the arguments under constrained decoding, once with the ids-only schema the agent
used before narrowing ("before") and once with the narrowed one ("after"); the call is
then run with the real tool. A call *succeeds* when the tool returns a result, and is
*sensible* when it also fits what the image really is (the folder's label, not the
classifier's): a segmentation target made for that kind of image, no box or points nobody
drew, no invented microscope scale, at least one structure found; a view with HU
presets only on CT and no explicit window nobody asked for.

    flock /tmp/medassist-heavy.lock .venv/bin/python benchmarks/bench_forced_calls.py \
        [--llm-url URL] [--data ../shared/data]

Without --llm-url it starts vLLM for the profile (and stops it at the end).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from langchain_core.messages import HumanMessage  # noqa: E402

from assistant import prompts  # noqa: E402
from assistant.actions import action_schema, parse_action  # noqa: E402
from assistant.config import load_config, load_profile  # noqa: E402
from assistant.llm import ChatRequest, collect  # noqa: E402
from assistant.messages import ATTACHMENTS_KEY, to_openai  # noqa: E402
from assistant.server import VLLMServer  # noqa: E402
from assistant.service import Assistant  # noqa: E402
from tools.attachments import Attachment  # noqa: E402
from tools.errors import InputError, ToolError  # noqa: E402
from tools.narrowing import Scope, narrow_refs  # noqa: E402
from tools.registry import Tool, ToolContext  # noqa: E402

CT_PRESETS = {"lung", "mediastinum", "bone", "brain", "abdomen"}
FITTING = {
    "radiograph": {"lung_fields"},
    "stained_tissue": {"nuclei_he", "tissue"},
    "fluorescence": {"nuclei_fluorescence"},
    "fundus": {"retinal_vessels"},
}
IMAGES = [
    ("images_2d/cxr/nih_00000001_000.png", "radiograph"),
    ("images_2d/cxr/tbx11k/imgs/tb/tb0005.png", "radiograph"),
    ("images_2d/cxr_medrax_demo/pneumonia1.jpg", "radiograph"),
    ("dicom/cxr/hd_dx_image.dcm", "radiograph"),
    ("images_2d/nuclei_he_miccai/image01.png", "stained_tissue"),
    ("images_2d/histology/stardist_histo_he_tcia.jpg", "stained_tissue"),
    ("images_2d/histology/skimage_ihc_colon_fhl2_dab.png", "stained_tissue"),
    ("images_2d/nuclei_fluorescence/stardist_dsb2018_img2d.tif", "fluorescence"),
    ("wsi/tiff/pathml_smalltif.tif", "fluorescence"),
    ("images_2d/fundus/drive/test_images_01_test.tif", "fundus"),
    ("images_2d/fundus/skimage_retina_fundus_normal_left_eye.jpg", "fundus"),
    ("dicom/ct/pydicom_CT_small.dcm", "ct"),
    ("dicom/ct/hd_ct_image.dcm", "ct"),
    ("dicom/multiframe/pdd_emri_small_enhancedMR_10frame.dcm", "mr"),
]
"""(file under --data, true kind). CT and MR slices get view_dicom only: no 2-D target fits."""


@dataclass
class Outcome:
    """One forced call."""

    image: str
    truth: str
    tool: str
    mode: str
    arguments: dict[str, Any]
    ok: bool
    sensible: bool
    why: str
    seconds: float


def _closed(schema: Any) -> Any:
    if isinstance(schema, dict):
        out = {k: _closed(v) for k, v in schema.items() if k != "title"}
        if out.get("type") == "object" and "properties" in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_closed(v) for v in schema]
    return schema


def before_request(tool: Tool, att: Attachment) -> tuple[str, dict[str, Any]]:
    """The prompt and action schema as the agent built them before narrowing (ids only)."""
    arguments = _closed(narrow_refs(tool.parameters_schema(), [att.id]))
    signature = prompts._params(tool.name, arguments)
    system = (
        f"{prompts.PERSONA}\n\nTools:\n- {signature}: {' '.join(tool.description.split())}\n\n"
        f"Attached: {att.id} = {att.name}.\n\n"
        'Decide the next step. Reply with JSON only: {"tool": NAME, "arguments": {...}} to '
        'call a tool, or {"tool": "answer"} when you can answer the user. Call a tool '
        "when the answer needs facts about an image that you do not have yet."
    )
    schema = {
        "type": "object",
        "properties": {"tool": {"const": tool.name}, "arguments": arguments},
        "required": ["tool", "arguments"],
        "additionalProperties": False,
    }
    return system, schema


def judge(tool: str, truth: str, args: dict[str, Any], result: dict[str, Any]) -> tuple[bool, str]:
    """Whether a successful call fits the image's true kind, and why not."""
    if tool == "segment":
        if args.get("box") or args.get("points") or args.get("background_points"):
            return False, "box or points nobody drew"
        if args.get("microns_per_pixel") is not None:
            return False, "a microscope scale nobody gave"
        if args.get("target") not in FITTING.get(truth, set()):
            return False, f"target {args.get('target')} on {truth}"
        if not result.get("count"):
            return False, "nothing found"
        return True, ""
    if args.get("center") is not None or args.get("width") is not None:
        return False, "an explicit window nobody asked for"
    window = args.get("window", "auto")
    if window in CT_PRESETS and truth != "ct":
        return False, f"CT window {window} on {truth}"
    return True, ""


async def one_call(
    assistant: Assistant, session: str, att: Attachment, truth: str, tool: Tool, mode: str
) -> Outcome:
    """Let the model fill in the forced call, run it, judge it."""
    attachments = assistant.attachments(session)
    scope = Scope.of(attachments.values(), assistant.tool_deps)
    if mode == "before":
        system, schema = before_request(tool, att)
    else:
        system = prompts.action_prompt([tool], scope, forced=True)
        schema = action_schema([tool], scope, allow_answer=False)
    text = f"Use {tool.name} on {att.id}."
    history = [HumanMessage(content=text, additional_kwargs={ATTACHMENTS_KEY: [att.id]})]
    messages = to_openai(
        history, assistant.profile, attachments, assistant.session_dir(session), system
    )
    started = time.perf_counter()
    reply = await collect(
        assistant.model,
        ChatRequest(messages=messages, max_tokens=assistant.profile.sampling.action_max_tokens,
                    temperature=0.0, json_schema=schema),
    )  # fmt: skip
    seconds = time.perf_counter() - started
    try:
        call = parse_action(reply.text)
        args = json.loads(call.arguments) if call else {}
    except (ToolError, InputError) as exc:
        return Outcome(att.name, truth, tool.name, mode, {}, False, False, str(exc)[:80], seconds)
    ctx = ToolContext(session, assistant.session_dir(session), attachments,
                      assistant.deid_key(session), assistant.tool_deps)  # fmt: skip
    try:
        result = await tool.run(tool.parse_args(args), ctx)
    except (ToolError, InputError) as exc:
        return Outcome(att.name, truth, tool.name, mode, args, False, False, str(exc)[:90], seconds)
    sensible, why = judge(tool.name, truth, args, json.loads(result.for_model()))
    return Outcome(att.name, truth, tool.name, mode, args, True, sensible, why, seconds)


def _pct(part: int, whole: int) -> str:
    return f"{part}/{whole} ({100 * part / max(whole, 1):.0f} %)"


def report(outcomes: list[Outcome], model: str, wall: float) -> str:
    """Markdown: success and sensible shares per tool and mode, then every call."""
    lines = [f"Model {model}; {platform.machine()}, {wall:.0f} s wall.", "",
             "| tool | mode | calls | succeed | succeed and sensible |",
             "|---|---|---|---|---|"]  # fmt: skip
    for tool in ("segment", "view_dicom", "all"):
        for mode in ("before", "after"):
            rows = [o for o in outcomes if o.mode == mode and tool in (o.tool, "all")]
            ok = sum(o.ok for o in rows)
            good = sum(o.sensible for o in rows)
            lines.append(f"| {tool} | {mode} | {len(rows)} | {_pct(ok, len(rows))} | "
                         f"{_pct(good, len(rows))} |")  # fmt: skip
    lines += ["", "| image (truth) | tool | mode | arguments | outcome |", "|---|---|---|---|---|"]
    for o in outcomes:
        args = {k: v for k, v in o.arguments.items() if k != "image_id"}
        verdict = "sensible" if o.sensible else ("ran, " + o.why if o.ok else "failed: " + o.why)
        lines.append(f"| {o.image} ({o.truth}) | {o.tool} | {o.mode} | `{json.dumps(args)}` | "
                     f"{verdict.replace('|', '/')} |")  # fmt: skip
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> None:
    """Upload every image to its own session and make the forced calls."""
    overrides: dict[str, Any] = {"data_dir": str(args.work), "model": args.model}
    if args.llm_url:
        overrides["llm"] = {"base_url": args.llm_url}
    config = load_config(overrides)
    outcomes: list[Outcome] = []
    started = time.perf_counter()
    async with Assistant(config) as assistant:
        for rel, truth in IMAGES:
            session = assistant.new_session(f"bench {rel}").id
            att = await assistant.aadd_upload(session, args.data / rel)
            att = assistant.attachments(session)[att.id]
            names = ["view_dicom"] if truth in ("ct", "mr") else ["segment", "view_dicom"]
            for name in names:
                for mode in ("before", "after"):
                    tool = assistant.registry.get(name)
                    outcome = await one_call(assistant, session, att, truth, tool, mode)
                    outcome.image = f"{Path(rel).name} [{att.facts.image_class or '?'}]"
                    outcomes.append(outcome)
                    print(outcome, file=sys.stderr, flush=True)
    print(report(outcomes, assistant.profile.name, time.perf_counter() - started))


def main() -> None:
    """Start the model server if needed, run, print the Markdown report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--llm-url", help="an already running OpenAI-compatible server (…/v1)")
    parser.add_argument("--model", default="smollm2-135m")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-forced-") as tmp:
        args.work = Path(tmp)
        server = None
        if not args.llm_url:
            config = load_config({"data_dir": tmp, "model": args.model, "llm": {"port": 8391}})
            server = VLLMServer(config, load_profile(args.model))
            server.start()
            server.wait_ready()
            args.llm_url = server.url
        try:
            asyncio.run(run(args))
        finally:
            if server is not None:
                server.stop()


if __name__ == "__main__":
    main()
