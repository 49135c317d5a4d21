"""Tools for this image: what it was detected as, one-click actions, and a form per tool.

Everything offered is derived from the attachment's stored kind and class and from the
narrowed schemas (`tools.narrowing`), the same ones the model decodes under. A run goes
through `Assistant.run_tool`, so it joins the conversation as a tool step exactly as a
model's call does (the model sees it next turn; reports cite it) and its events are
drawn by `ui.render.apply_event` like any turn's.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import gradio as gr

from assistant.catalog import REGISTRY
from assistant.events import TurnDone
from assistant.service import Assistant
from tools.attachments import Attachment, ImageClass
from tools.errors import MedAssistError
from tools.narrowing import Scope, defaults, image_schema, narrow_refs
from ui.drawn import drawn_scope
from ui.follow import Focus, Follower
from ui.forms import BOX_KEYS, FieldSpec, collect, form_fields
from ui.holder import AssistantHolder
from ui.quick_actions import (
    CLASS_LABELS,
    class_label,
    newest,
    quick_actions,
    tool_names_for,
    upload_choice,
)
from ui.render import ChatMessage, apply_event
from ui.welcome import one_line

__all__ = ["ToolsPanel", "build_tools_panel", "ran_message"]

REPORT_JS = """() => {
  const panel = document.querySelector('#report-panel');
  const head = panel && panel.querySelector('button.label-wrap');
  if (head && !head.classList.contains('open')) head.click();
  setTimeout(() => document.querySelector('#draft-report').click(), 400);
}"""
"""A report quick action sets the template, then presses the report panel's own button."""


_F = TypeVar("_F", bound=Callable[..., Any])


def _render(inputs: list[Any], triggers: list[Any]) -> Callable[[_F], _F]:
    """`gr.render` on these inputs and triggers, typed (Gradio's decorator is not)."""
    return cast(Callable[[_F], _F], cast(Any, gr.render)(inputs=inputs, triggers=triggers))


def ran_message(name: str) -> str:
    """The user line a person's own tool run leaves in the chat (as stored by run_tool)."""
    return f"I ran {name} myself."


@dataclass
class ToolsPanel:
    """What app.py wires: the image chooser, how the panel follows, the report template."""

    image: gr.Dropdown
    follower: Follower
    template: list[gr.Dropdown]
    """The report panel's template dropdown, filled in once that panel is built."""


async def run_into_chat(
    assistant: Assistant,
    history: list[ChatMessage],
    session_id: str,
    name: str,
    arguments: Mapping[str, Any],
) -> AsyncIterator[list[ChatMessage]]:
    """Run a tool as the person asked and draw its events into the chat as they come."""
    history.append({"role": "user", "content": ran_message(name)})
    yield history
    session_dir = assistant.session_dir(session_id)
    async for event in assistant.run_tool(session_id, name, arguments):
        if isinstance(event, TurnDone):
            break
        apply_event(history, event, session_dir)
        yield history


def _component(spec: FieldSpec) -> list[Any]:
    """Gradio input components for one form field (a box gives four numbers)."""
    eid = f"form-{spec.name}"
    if spec.kind == "choice":
        return [
            gr.Dropdown(
                label=spec.label,
                info=spec.info,
                choices=list(spec.choices),
                value=spec.value,
                elem_id=eid,
                interactive=len(spec.choices) > 1,
            )
        ]
    if spec.kind in ("integer", "number") and spec.optional:  # empty means: not set
        bounds = ", ".join(
            f"{word} {v:g}"
            for word, v in (("above" if spec.above else "min", spec.minimum), ("max", spec.maximum))
            if v is not None
        )
        return [
            gr.Textbox(
                label=spec.label,
                info=f"{spec.info} ({bounds})" if bounds else spec.info,
                value="" if spec.value is None else str(spec.value),
                placeholder="not set",
                elem_id=eid,
            )
        ]
    if spec.kind in ("integer", "number"):
        return [
            gr.Number(
                label=spec.label,
                info=spec.info,
                value=spec.value,
                elem_id=eid,
                minimum=spec.minimum,
                maximum=spec.maximum,
                precision=0 if spec.kind == "integer" else None,
            )
        ]
    if spec.kind == "flag":
        return [gr.Checkbox(label=spec.label, info=spec.info, value=spec.value, elem_id=eid)]
    if spec.kind == "box":
        start = spec.value or {}
        with gr.Row():
            return [
                gr.Number(
                    label=f"{spec.label}: {k}",
                    value=start.get(k),
                    precision=0,
                    minimum=spec.box_limits[k][0],
                    maximum=spec.box_limits[k][1],
                    elem_id=f"{eid}-{k}",
                )
                for k in BOX_KEYS
            ]
    if spec.kind == "fixed":
        return [
            gr.Textbox(
                label=f"{spec.label} (as you drew it)",
                value=json.dumps(spec.value),
                interactive=False,
                elem_id=eid,
            )
        ]
    lines = 3 if spec.kind == "json" else 1
    info = spec.info + (" (JSON)" if spec.kind == "json" else "")
    return [gr.Textbox(label=spec.label, info=info, value=spec.value, lines=lines, elem_id=eid)]


def build_tools_panel(
    holder: AssistantHolder,
    session_state: gr.State,
    chatbot: gr.Chatbot,
    region: gr.Textbox,
    demo: gr.Blocks,
) -> ToolsPanel:
    """Add the 'Tools for this image' accordion; returns what app.py wires to it."""
    panel_version = gr.State(0)
    # "session/image": what the panel is about. Two sessions' newest images can share an
    # id (img1), so the panel follows this key, not the image dropdown alone.
    showing = gr.State("")
    template: list[gr.Dropdown] = []
    with gr.Accordion("Tools for this image", open=True, elem_id="tools-panel"):
        with gr.Row():
            image = gr.Dropdown(label="Image", choices=[], elem_id="qa-image", scale=2)
            shows = gr.Dropdown(
                label="It shows (correct it if wrong)",
                choices=[(label, c.value) for c, label in CLASS_LABELS.items()],
                value=None,
                elem_id="qa-class",
                scale=2,
            )
        detected = gr.Markdown(
            "Upload an image to see what can be done with it.", elem_id="qa-detected"
        )

        # Re-drawn when the session or chosen image, its class or the drawn region changes.
        @_render(
            [session_state, image, panel_version, region],
            [demo.load, showing.change, panel_version.change, region.change],
        )
        def actions(session_id: str | None, chosen: str | None, _v: int, raw: str) -> None:
            att, scope, assistant = _context(holder, session_id, chosen, raw)
            if att is None or session_id is None or assistant is None:
                return
            with gr.Row(elem_id="quick-actions"):
                for action in quick_actions(REGISTRY, att, scope):
                    btn = gr.Button(action.label, size="sm", elem_classes=["quick-action"])
                    if action.action == "run":
                        btn.click(
                            _runner(holder, action.tool, action.arguments),
                            [chatbot, session_state],
                            [chatbot, session_state],
                        )
                    elif action.action == "report" and template:
                        btn.click(lambda t=action.tool: t, None, template[0]).then(
                            None, js=REPORT_JS
                        )
                    elif action.action == "form":  # open the tool's form, chosen
                        btn.click(
                            lambda t=action.tool: (t, gr.update(open=True)),
                            None,
                            [form_tool, forms],
                        )

        with gr.Accordion("All tools (a form for each)", open=False, elem_id="tool-forms") as forms:
            # None chosen, as after every image: Gradio's default (the first tool) would be
            # reset by the first upload, re-drawing the form for nothing.
            form_tool = gr.Dropdown(
                label="Tool", choices=_tool_choices(None, Scope()), value=None, elem_id="form-tool"
            )

            @_render(
                [session_state, image, form_tool, panel_version, region],
                [demo.load, form_tool.change, panel_version.change, region.change],
            )
            def form(
                session_id: str | None, chosen: str | None, name: str | None, _v: int, raw: str
            ) -> None:
                if not name or name not in REGISTRY:
                    return
                att, scope, _ = _context(holder, session_id, chosen, raw)
                tool = REGISTRY.get(name)
                schema = (
                    image_schema(tool, att, scope)
                    if att
                    else narrow_refs(tool.parameters_schema(), scope.ids)
                )
                if schema is None:
                    gr.Markdown(f"{name} does not fit this image.")
                    return
                specs = form_fields(schema, defaults(tool, att, scope) or {})
                gr.Markdown(tool.description.split("\n\n")[0], elem_id="form-doc")
                widgets = [w for spec in specs for w in _component(spec)]
                run = gr.Button(f"Run {name}", variant="primary", elem_id="form-run")
                run.click(
                    _form_runner(holder, name, specs),
                    [chatbot, session_state, *widgets],
                    [chatbot, session_state],
                )

    def described(att: Attachment | None, scope: Scope) -> tuple[Any, ...]:
        """What the panel says of the chosen image, its class and the tools that fit it."""
        if att is None:
            text = "Upload an image to see what can be done with it."
            return text, None, gr.update(choices=_tool_choices(None, scope), value=None)
        cls = att.facts.image_class
        text = f"**{att.id}** · {att.name} — detected: {class_label(att)}"
        return (
            text,
            cls.value if cls else None,
            gr.update(choices=_tool_choices(att, scope), value=None),
        )

    async def describe(session_id: str | None, chosen: str | None, raw: str) -> tuple[Any, ...]:
        att, scope, _ = _context(holder, session_id, chosen, raw)
        return described(att, scope)

    async def follow(focus: Focus, raw: str) -> tuple[Any, ...]:
        """The session's uploads to choose from, the newest chosen, and what fits it."""
        atts = list(focus.attachments.values())
        last = newest(atts)
        chosen = last.id if last else None
        scope = (
            Scope.of(atts, holder.current.tool_deps, drawn_scope(raw))
            if focus.session_id
            else Scope()
        )
        return (
            gr.update(choices=[upload_choice(a) for a in atts], value=chosen),
            key(focus.session_id, chosen),
            *described(last, scope),
        )

    async def pick(
        session_id: str | None, chosen: str | None, raw: str, current: str
    ) -> tuple[Any, ...]:
        """The person chose another image (the dropdown also fires on blur: then nothing)."""
        if key(session_id, chosen) == current:
            return tuple(gr.skip() for _ in range(4))
        return key(session_id, chosen), *await describe(session_id, chosen, raw)

    async def correct(
        session_id: str | None, chosen: str | None, value: str | None, version: int
    ) -> tuple[Any, int]:
        if not (session_id and chosen and value):
            return gr.skip(), version
        assistant = await holder.get()
        try:
            att = assistant.set_image_class(session_id, chosen, ImageClass(value))
        except MedAssistError as exc:
            return f"⚠️ {exc}", version
        return f"**{att.id}** · {att.name} — {class_label(att)}", version + 1

    def key(session_id: str | None, chosen: str | None) -> str:
        return f"{session_id or ''}/{chosen or ''}"

    shown = [detected, shows, form_tool]
    image.input(pick, [session_state, image, region, showing], [showing, *shown])
    shows.input(correct, [session_state, image, shows, panel_version], [detected, panel_version])
    follower = Follower("tools", [image, showing, *shown], follow, [region])
    return ToolsPanel(image, follower, template)


def _tool_choices(att: Attachment | None, scope: Scope) -> list[tuple[str, str]]:
    return [(f"{n} — {one_line(REGISTRY.get(n))}", n) for n in tool_names_for(REGISTRY, att, scope)]


def _context(
    holder: AssistantHolder, session_id: str | None, chosen: str | None, raw: str | None
) -> tuple[Attachment | None, Scope, Assistant | None]:
    """The chosen attachment, the narrowing scope of the session, and the assistant.

    Synchronous, because `gr.render` functions are; the page only exists while the
    server (and so the Assistant) is running.
    """
    if not session_id:
        return None, Scope(), None
    assistant = holder.current
    try:
        atts = assistant.attachments(session_id)
    except MedAssistError:
        return None, Scope(), assistant
    scope = Scope.of(atts.values(), assistant.tool_deps, drawn_scope(raw))
    return atts.get(chosen or ""), scope, assistant


def _runner(holder: AssistantHolder, name: str, arguments: Mapping[str, Any]) -> Any:
    async def run(
        history: list[ChatMessage], session_id: str | None
    ) -> AsyncIterator[tuple[list[ChatMessage], str | None]]:
        assistant = await holder.get()
        history = list(history or [])
        if not session_id:  # tools act on uploads: there is nothing to run one on yet
            history.append({"role": "assistant", "content": "⚠️ Upload an image first."})
            yield history, session_id
            return
        async for shown in run_into_chat(assistant, history, session_id, name, arguments):
            yield shown, session_id

    return run


def _form_runner(holder: AssistantHolder, name: str, specs: list[FieldSpec]) -> Any:
    async def run(
        history: list[ChatMessage], session_id: str | None, *values: Any
    ) -> AsyncIterator[tuple[list[ChatMessage], str | None]]:
        history = list(history or [])
        try:
            arguments = collect(specs, values)
        except ValueError as exc:
            history.append({"role": "assistant", "content": f"⚠️ {exc}"})
            yield history, session_id
            return
        async for shown in _runner(holder, name, arguments)(history, session_id):
            yield shown

    return run
