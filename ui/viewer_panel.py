"""The viewer accordion: radiology images in the image viewer, slides in the slide viewer.

Both are pages of their own (ui/image_viewer.py, ui/slide_viewer.py) in an iframe, so
zooming, panning, window/level and measuring never go through a Gradio event. A
measurement made there runs the `measure` tool; the page tells this window, which reloads
the chat so the step shows (`measured_listener_js` pokes the hidden field built here).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gradio as gr

from tools.attachments import Attachment
from ui.follow import Focus, Follower
from ui.holder import AssistantHolder
from ui.image_viewer import image_viewer_html
from ui.quick_actions import upload_choice
from ui.render import ChatMessage, from_messages
from ui.slide_viewer import viewer_html

NO_COMPARISON = ""


def opening_frame(att: Attachment) -> tuple[int, int]:
    """(1-based frame the viewer opens at, frame count): a series' middle slice, else 1.

    Both were decided at upload, so choosing an image opens no file.
    """
    return att.facts.default_frame + 1, att.facts.frames


def build_viewer_panel(
    holder: AssistantHolder, session_state: gr.State, chatbot: gr.Chatbot
) -> Follower:
    """Add the viewer accordion; returns how it follows the session (`ui.follow`)."""
    # Outside the accordion: a closed accordion's children are not in the page.
    measured = gr.Textbox(
        value="", elem_id="measured", elem_classes=["medassist-hidden"],
        show_label=False, container=False,
    )  # fmt: skip
    with gr.Accordion("Image viewer", open=False, elem_id="viewer-panel"):
        with gr.Row():
            image_id = gr.Dropdown(label="Image", choices=[], elem_id="viewer-image")
            other = gr.Dropdown(
                label="Side by side with (prior and current)",
                choices=[("none", NO_COMPARISON)],
                value=NO_COMPARISON,
                elem_id="viewer-compare",
            )
        page = gr.HTML(elem_id="viewer-page")
        caption = gr.Markdown(elem_id="viewer-caption")

    def listed(atts: Mapping[str, Attachment], current: str | None) -> Any:
        """The session's images to choose from; the current one stays chosen if listed."""
        options = [upload_choice(a) for a in atts.values()]
        ids = [i for _, i in options]
        value = current if current in ids else (ids[-1] if ids else None)
        return gr.update(choices=options, value=value)

    async def choices(session_id: str | None, current: str | None = None) -> Any:
        if not session_id:
            return gr.update(choices=[], value=None)
        assistant = await holder.get()
        return listed(assistant.attachments(session_id), current)

    def shown(
        session_id: str, atts: Mapping[str, Attachment], chosen: str, compare: str | None
    ) -> tuple[Any, ...]:
        att = atts.get(chosen)
        if att is None:
            return "", "⚠️ That image is not in this session.", gr.skip()
        if att.kind.is_slide:
            note = (
                f"{att.name}: whole-slide image. Numbered boxes are the regions the agent "
                "visited; draw a box to ask about it."
            )
            return viewer_html(session_id, att.id), note, gr.update(visible=False)
        others = [upload_choice(a) for a in atts.values() if a.id != att.id and not a.kind.is_slide]
        pair = compare if compare in {i for _, i in others} else None
        note = (
            f"{att.name}" + (f" beside {atts[pair].name}" if pair else "") + ": wheel zooms; "
            "the left button adjusts the window (W/L), pans, or measures (Ruler, Ellipse) as "
            "the toolbar says; a measurement joins the conversation."
        )
        menu = gr.update(
            choices=[("none", NO_COMPARISON), *others],
            value=pair or NO_COMPARISON,
            visible=bool(others),
        )
        return image_viewer_html(session_id, att.id, pair), note, menu

    def nothing() -> tuple[Any, ...]:
        return "", "", gr.update(choices=[("none", NO_COMPARISON)], value=NO_COMPARISON)

    async def show(session_id: str | None, chosen: str | None, compare: str | None) -> Any:
        if not (session_id and chosen):
            return nothing()
        assistant = await holder.get()
        return shown(session_id, assistant.attachments(session_id), chosen, compare)

    async def reload_chat(session_id: str | None) -> list[ChatMessage] | Any:
        """The chat as stored, now with the measurement's tool step."""
        if not session_id:
            return gr.skip()
        assistant = await holder.get()
        return from_messages(
            await assistant.history(session_id),
            assistant.attachments(session_id),
            assistant.session_dir(session_id),
            show_marks=assistant.config.ui.show_marks,
        )

    async def follow(focus: Focus, compare: str | None) -> tuple[Any, ...]:
        """The session's newest image, shown (beside the chosen prior, if still there)."""
        menu = listed(focus.attachments, None)
        chosen = menu["value"]
        if not (focus.session_id and chosen):
            return menu, *nothing()
        return menu, *shown(focus.session_id, focus.attachments, chosen, compare)

    inputs = [session_state, image_id, other]
    image_id.input(show, inputs, [page, caption, other])
    other.input(show, inputs, [page, caption, other])
    image_id.focus(choices, [session_state, image_id], image_id)  # uploads since
    measured.change(reload_chat, session_state, chatbot)
    return Follower("viewer", [image_id, page, caption, other], follow, [other])
