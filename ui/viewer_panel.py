"""Image viewer: an attached image with a chosen window preset and frame (DICOM aware)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import gradio as gr

from tools.attachments import Attachment
from tools.errors import InputError
from tools.imaging.windowing import preset_choices
from ui.holder import AssistantHolder
from ui.slide_viewer import viewer_html


def opening_frame(att: Attachment) -> tuple[int, int]:
    """(1-based frame the viewer opens at, frame count): a series' middle slice, else 1.

    Both were decided at upload, so choosing an image opens no file.
    """
    return att.facts.default_frame + 1, att.facts.frames


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def build_viewer_panel(
    holder: AssistantHolder, session_state: gr.State
) -> tuple[gr.Dropdown, Callable[[str | None], Awaitable[Any]]]:
    """Add the viewer accordion; returns its image chooser and the function refreshing it."""
    with gr.Accordion("Image viewer (window / level)", open=False, elem_id="viewer-panel"):
        with gr.Row():
            image_id = gr.Dropdown(label="Image", choices=[], elem_id="viewer-image")
            window = gr.Dropdown(
                label="Window", choices=preset_choices(), value="auto", elem_id="viewer-window"
            )
            frame = gr.Slider(label="Frame", minimum=1, maximum=2, step=1, value=1, visible=False)
        picture = gr.Image(
            label="Rendering", type="filepath", interactive=False, elem_id="viewer-img"
        )
        slide = gr.HTML(visible=False, elem_id="viewer-slide")
        caption = gr.Markdown(elem_id="viewer-caption")

    async def choices(session_id: str | None) -> Any:
        if not session_id:
            return gr.update(choices=[], value=None)
        assistant = await holder.get()
        atts = assistant.attachments(session_id)
        options = [(f"{a.id} · {a.name}", a.id) for a in atts.values()]
        return gr.update(choices=options, value=options[-1][1] if options else None)

    async def show(
        session_id: str | None, chosen: str | None, preset: str, number: float
    ) -> tuple[Any, ...]:
        hidden = gr.update(visible=False)
        if not (session_id and chosen):
            return None, "", hidden, hidden
        assistant = await holder.get()
        att = assistant.attachments(session_id).get(chosen)
        if att is None:
            return None, "⚠️ That image is not in this session.", hidden, hidden
        if att.kind.is_slide:
            note = (
                f"{att.name}: whole-slide image. Numbered boxes are the regions the agent "
                "visited; draw a box to ask about it."
            )
            html = gr.update(value=viewer_html(session_id, att.id), visible=True)
            return gr.update(value=None, visible=False), note, hidden, html
        frames = att.facts.frames
        try:
            _, png, text = await assistant.aview(
                session_id, att.id, window=preset, frame=int(number) - 1  # type: ignore[arg-type]
            )
        except InputError as exc:
            return None, f"⚠️ {exc}", hidden, hidden
        slider = gr.update(visible=frames > 1, maximum=max(frames, 2))
        # Kept in the session's folder (served from there, deleted with the session), not
        # in Gradio's cache, where a copy would outlive the session and skip access checks.
        path = assistant.session_dir(session_id) / "views" / f"{att.id}-{preset}-{number}.png"
        await asyncio.to_thread(_write, path, png)
        shown = gr.update(value=str(path), visible=True)
        return shown, f"{att.name}: {text}", slider, hidden

    async def start_frame(session_id: str | None, chosen: str | None) -> Any:
        """The frame slider for a newly chosen image: a series opens at its middle slice."""
        hidden = gr.update(value=1, visible=False)
        if not (session_id and chosen):
            return hidden
        assistant = await holder.get()
        att = assistant.attachments(session_id).get(chosen)
        if att is None or att.kind.is_slide:
            return hidden
        start, frames = opening_frame(att)
        return gr.update(value=start, maximum=max(frames, 2), visible=frames > 1)

    inputs = [session_state, image_id, window, frame]
    outputs = [picture, caption, frame, slide]
    image_id.change(start_frame, [session_state, image_id], frame).then(show, inputs, outputs)
    window.change(show, inputs, outputs)
    frame.input(show, inputs, outputs)
    image_id.focus(choices, session_state, image_id)
    return image_id, choices
