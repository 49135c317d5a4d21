"""The one list of tools. It feeds the model's schema, the prompt catalogue and the executor."""

from __future__ import annotations

from retrieval.tool import search_knowledge
from tools.imaging.describe import describe_image
from tools.imaging.view import view_dicom
from tools.registry import Registry, Tool
from tools.segmentation.manual import measure
from tools.segmentation.tool import segment
from tools.slides.navigate import slide_note, slide_overview, slide_zoom

TOOLS: list[Tool] = [
    Tool.from_function(describe_image),
    Tool.from_function(view_dicom),
    Tool.from_function(slide_overview),
    Tool.from_function(slide_zoom),
    Tool.from_function(slide_note),
    Tool.from_function(segment),
    Tool.from_function(measure),
    Tool.from_function(search_knowledge),
]

REGISTRY = Registry(TOOLS)
