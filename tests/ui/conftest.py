"""A real UI server in this process and a real headless Chromium driving it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.config import AppConfig

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("Debian's chromium is required for browser tests: apt-get install chromium")
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for one test module. Not session-wide: Playwright's sync API keeps an event
    loop running while it is open, which breaks asyncio tests collected after it."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def serve_ui(config: AppConfig, port: int) -> Any:
    """Start the Gradio app without blocking; returns the Blocks (call .close())."""
    from ui.app import launch

    return launch(config, host="127.0.0.1", port=port, block=False)


def shot(page: Any, name: str) -> Path:
    """Save a screenshot next to the test run's data for humans to look at."""
    out = Path(".data/screenshots")
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def drag_box(page: Any, element: Any, at: tuple[float, float], size: tuple[int, int]) -> None:
    """Drag a box with the mouse over `element` (a locator): from `at` (fractions of its width
    and height) over `size` screen pixels, as a user draws a region."""
    box = element.bounding_box()
    assert box is not None, "the element is not on screen"
    left, top = box["x"] + box["width"] * at[0], box["y"] + box["height"] * at[1]
    page.mouse.move(left, top)
    page.mouse.down()
    page.mouse.move(left + size[0], top + size[1], steps=5)
    page.mouse.up()


HTTP_CLIENT_WARNINGS = [
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]
"""Marks for tests that talk to a served app over HTTP from this process (client sockets
and event loops the app's threads close late)."""
