"""The one list of tools. It feeds the model's schema, the prompt catalogue and the executor."""

from __future__ import annotations

from tools.imaging.describe import describe_image
from tools.imaging.view import view_dicom
from tools.registry import Registry, Tool

TOOLS: list[Tool] = [
    Tool.from_function(describe_image),
    Tool.from_function(view_dicom),
]

REGISTRY = Registry(TOOLS)
