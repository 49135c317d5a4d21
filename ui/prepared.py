"""Outputs of a streamed event made ready for the page here, not by Gradio.

Gradio post-processes each output of each update in a worker thread of its own: one
thread hop per output per update, which a chat that streams (twenty of them at once, on
a machine whose cores also run the model server) pays many times a second. An event
registered with `postprocess=False` takes its values as they are; `prepared` makes them
what Gradio's post-processing would, on the event loop, in one go.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import gradio as gr
from gradio.data_classes import GradioModel, GradioRootModel

MODELLED = (gr.Chatbot, gr.MultimodalTextbox)
"""Components whose value the page receives as a data model (messages, text and files)."""


def prepared(outputs: Sequence[gr.components.Component], values: Sequence[Any]) -> tuple[Any, ...]:
    """`values` for `outputs` as the page receives them.

    Only `MODELLED` components are converted. Other values already are what the page
    receives: the post-processing of a dropdown, a textbox or a State only checks its
    value (a dropdown against the choices it was built with, not those the session shows
    now), and an update (`gr.update`, `gr.skip()`) is applied by Gradio itself.
    """
    if len(outputs) != len(values):
        raise ValueError(f"{len(values)} values for {len(outputs)} outputs")
    return tuple(
        _dumped(cast(Any, block).postprocess(value))
        if isinstance(block, MODELLED) and not _is_update(value)
        else value
        for block, value in zip(outputs, values, strict=True)
    )


def _is_update(value: Any) -> bool:
    """As Gradio tells an update (`gr.update`, `gr.skip()`) from a value."""
    return isinstance(value, dict) and "update" in str(value.get("__type__", ""))


def _dumped(value: Any) -> Any:
    return value.model_dump() if isinstance(value, GradioModel | GradioRootModel) else value
