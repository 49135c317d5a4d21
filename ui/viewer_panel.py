"""Image viewer: an attached image with a chosen window preset and frame (DICOM aware)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image

from tools.errors import InputError
from tools.imaging.reader import load_image
from tools.imaging.render import render_view
from tools.imaging.volume import default_slice
from tools.imaging.windowing import preset_choices
from tools.slides import is_slide
from ui.holder import AssistantHolder
from ui.slide_viewer import viewer_html


def opening_frame(path: Path, key: str) -> tuple[int, int]:
    """(1-based frame the viewer opens at, frame count): a series' middle slice, else 1."""
    frames = load_image(path, with_metadata=False).frame_count
    return default_slice(path, key) + 1, frames


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
        picture = gr.Image(label="Rendering", type="pil", interactive=False, elem_id="viewer-img")
        slide = gr.HTML(visible=False, elem_id="viewer-slide")
        caption = gr.Markdown(elem_id="viewer-caption")

    async def choices(session_id: str | None) -> Any:
        if not session_id:
            return gr.update(choices=[], value=None)
        assistant = await holder.get()
        atts = assistant.sessions.attachments(session_id)
        options = [(f"{a.id} · {a.name}", a.id) for a in atts.values()]
        return gr.update(choices=options, value=options[-1][1] if options else None)

    async def show(
        session_id: str | None, chosen: str | None, preset: str, number: float
    ) -> tuple[Any, ...]:
        hidden = gr.update(visible=False)
        if not (session_id and chosen):
            return None, "", hidden, hidden
        assistant = await holder.get()
        att = assistant.sessions.attachments(session_id).get(chosen)
        if att is None:
            return None, "⚠️ That image is not in this session.", hidden, hidden
        if await asyncio.to_thread(is_slide, att.path):
            note = (
                f"{att.name}: whole-slide image. Numbered boxes are the regions the agent "
                "visited; draw a box to ask about it."
            )
            html = gr.update(value=viewer_html(session_id, att.id), visible=True)
            return gr.update(value=None, visible=False), note, hidden, html
        try:
            frames = (await asyncio.to_thread(load_image, att.path)).frame_count
            index = min(max(int(number) - 1, 0), frames - 1)
            png, text = await asyncio.to_thread(render_view, att.path, window=preset, frame=index)  # type: ignore[arg-type]
        except InputError as exc:
            return None, f"⚠️ {exc}", hidden, hidden
        slider = gr.update(visible=frames > 1, maximum=max(frames, 2))
        shown = gr.update(value=Image.open(io.BytesIO(png)), visible=True)
        return shown, f"{att.name}: {text}", slider, hidden

    async def start_frame(session_id: str | None, chosen: str | None) -> Any:
        """The frame slider for a newly chosen image: a series opens at its middle slice."""
        hidden = gr.update(value=1, visible=False)
        if not (session_id and chosen):
            return hidden
        assistant = await holder.get()
        att = assistant.sessions.attachments(session_id).get(chosen)
        if att is None or await asyncio.to_thread(is_slide, att.path):
            return hidden
        key = assistant.deid_key(session_id)
        try:
            start, frames = await asyncio.to_thread(opening_frame, att.path, key)
        except InputError:
            return hidden
        return gr.update(value=start, maximum=max(frames, 2), visible=frames > 1)

    inputs = [session_state, image_id, window, frame]
    outputs = [picture, caption, frame, slide]
    image_id.change(start_frame, [session_state, image_id], frame).then(show, inputs, outputs)
    window.change(show, inputs, outputs)
    frame.input(show, inputs, outputs)
    image_id.focus(choices, session_state, image_id)
    return image_id, choices
