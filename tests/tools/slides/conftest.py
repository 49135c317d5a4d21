"""Small generated slides with known content at known level-0 coordinates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from tools.slides.opener import SLIDES
from tools.slides.synthetic import write_dicom_wsi, write_slide

WIDTH, HEIGHT = 1024, 768
RED = (200, 30, 30)
BLUE = (40, 40, 200)
RED_BOX = (600, 100, 200, 200)  # x, y, width, height in level-0 pixels
BLUE_BOX = (100, 500, 300, 200)


def base_image() -> NDArray[np.uint8]:
    """White glass with a red 200×200 and a blue 300×200 square at known places."""
    img = np.full((HEIGHT, WIDTH, 3), 255, np.uint8)
    for (x, y, w, h), colour in ((RED_BOX, RED), (BLUE_BOX, BLUE)):
        img[y : y + h, x : x + w] = colour
    return img


@pytest.fixture(scope="module")
def slide_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of the same content in every layout our readers handle."""
    folder = tmp_path_factory.mktemp("slides")
    base = base_image()
    write_slide(folder / "generic.tiff", base, layout="generic")
    write_slide(folder / "aperio.svs", base, layout="aperio", compression="jpeg", power=20)
    write_slide(folder / "pyramid.ome.tiff", base, layout="ome")
    write_slide(folder / "stripped.tif", base, layout="stripped", mpp=None)
    write_dicom_wsi(folder / "dicom-wsi", base, levels=3, power=20, patient_name="Doe^Jane")
    return folder


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Slides cached by one test must not leak into the next (files are rewritten)."""
    SLIDES.clear()
