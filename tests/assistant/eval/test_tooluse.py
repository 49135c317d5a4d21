"""The tool-use suite builder: gold answers computed from masks, headers and label tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assistant.eval.readers import read_suite
from assistant.eval.suite import load_suite
from assistant.eval.tooluse import build_suite, count_instances, mask_area, miccai_labels
from tests.assistant.eval import fixtures
from tools.slides import open_slide


def test_ground_truth_helpers_by_hand(tmp_path: Path) -> None:
    assert count_instances(np.array([[0, 3, 3], [7, 0, 12]])) == 3
    assert mask_area(np.array([[0, 255], [200, 100]], np.uint8)) == 2
    assert mask_area(np.full((2, 2), 255, np.uint8), size=(4, 4)) == 16
    bad = tmp_path / "m.txt"
    bad.write_text("3 2\n0 1 0\n")
    with pytest.raises(ValueError, match="3 values for a 3x2 mask"):
        miccai_labels(bad)


def test_builds_items_from_a_shared_tree(tmp_path: Path) -> None:
    shared = fixtures.shared_tree(tmp_path / "shared")
    build = build_suite(shared, tmp_path / "suite")
    items = {i.id: i for i in read_suite(tmp_path / "suite", load_suite("tooluse")).items}
    assert items["nuclei_he:image01"].gold == "3"
    assert items["nuclei_he:image01"].expected_tool is not None
    assert items["nuclei_he:image01"].expected_tool.arguments == {"target": "nuclei_he"}
    assert items["lung_area:16747_3_1"].gold == "400"  # 100 px at mask size, 4x at image size
    ct = "pdd_693_UNCR_head_CT_CQ500"
    modality = items[f"dicom_modality:{ct}"]
    assert modality.answer_type == "choice" and modality.choices[ord(modality.gold) - 65] == "CT"
    assert items[f"dicom_rows:{ct}"].gold == "48"
    assert items[f"dicom_window:{ct}"].gold == "40"
    assert items["cxr14:nih_00000001_000:cardiomegaly"].gold == "yes"
    assert items["cxr14:nih_00000001_000:effusion"].gold == "yes"
    assert items["cxr14:nih_00000001_000:infiltration"].gold == "no"
    region = items["slide_region:purple"]
    assert region.choices[ord(region.gold) - 65] == "purple"
    assert region.expected_tool is not None
    box = region.expected_tool.arguments
    assert (box["x"], box["y"], box["width"]) == (1280, 256, 512)
    with open_slide(region.images[0]) as slide:
        pixel = np.asarray(slide.read_region((box["x"] + 10, box["y"] + 10), 0, (1, 1)))
    assert tuple(pixel.reshape(-1)[:3]) == (110, 50, 140)
    # Sources the tree lacks are named, not skipped silently.
    assert "images_2d/nuclei_he_miccai/image08.png" in build.missing
    assert "images_2d/cxr/nih_00027426_000.png" in build.missing
    assert "images_2d/cxr_medrax_demo/effusion1.png" in build.missing
    assert all(p.is_relative_to(tmp_path / "suite") for i in items.values() for p in i.images)
