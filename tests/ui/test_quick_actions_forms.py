"""Quick actions, forms, the welcome and tool-step summaries (pure functions, no browser)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.catalog import REGISTRY
from assistant.config import load_profile
from tools.attachments import Attachment, AttachmentKind, ImageClass, ImageFacts
from tools.geometry import Box
from tools.narrowing import Drawn, Scope, image_schema, narrow_refs
from ui.forms import NONE_CHOICE, collect, form_fields
from ui.quick_actions import class_label, quick_actions, report_template, tool_names_for
from ui.render import result_summary
from ui.welcome import model_limits, tool_choices, welcome_markdown


def att(
    cls: ImageClass | None,
    kind: AttachmentKind = AttachmentKind.IMAGE,
    modality: str | None = None,
    frames: int = 1,
    by: str = "classifier",
) -> Attachment:
    facts = ImageFacts(
        width=200, height=180, frames=frames, modality=modality, image_class=cls,
        image_class_by=by if cls else None,
    )  # fmt: skip
    return Attachment("img1", Path("x.png"), "image-1.png", "image/png", "0" * 64, 1, kind, facts)


def actions(a: Attachment, scope: Scope | None = None) -> dict[str, dict[str, object]]:
    return {q.label: q.arguments for q in quick_actions(REGISTRY, a, scope or Scope([a]))}


def test_actions_follow_the_image_class() -> None:
    he = actions(att(ImageClass.STAINED_TISSUE))
    assert he["Segment nuclei and count"] == {"image_id": "img1", "target": "nuclei_he"}
    assert not any("lung" in label.lower() for label in he)
    cxr = actions(att(ImageClass.RADIOGRAPH))
    assert cxr["Segment lungs (areas)"]["target"] == "lung_fields"
    assert "Segment nuclei and count" not in cxr and "Draft chest report" in cxr
    assert actions(att(ImageClass.FLUORESCENCE))["Segment nuclei and count"]["target"] == (
        "nuclei_fluorescence"
    )
    assert actions(att(ImageClass.FUNDUS))["Segment vessels"]["target"] == "retinal_vessels"


def test_ct_gets_windows_mr_does_not() -> None:
    ct = actions(att(ImageClass.CROSS_SECTION, AttachmentKind.DICOM, "CT"))
    assert ct["Brain window"] == {"image_id": "img1", "window": "brain"}
    assert {"Lung window", "Bone window", "Draft CT report"} <= set(ct)
    assert "Segment organs (volumes)" not in ct  # TotalSegmentator is not configured
    mr = actions(att(ImageClass.CROSS_SECTION, AttachmentKind.DICOM, "MR"))
    assert not any("window" in label and "own" not in label for label in mr)


def test_slide_actions_and_the_drawn_region() -> None:
    slide = att(ImageClass.STAINED_TISSUE, AttachmentKind.SLIDE)
    plain = actions(slide)
    assert {"Overview", "Find tissue", "Write a note…"} <= set(plain)
    assert "Zoom into the drawn region" not in plain
    box = Box(x=10, y=20, width=30, height=40)
    drawn = actions(slide, Scope([slide], [Drawn("img1", box=box)]))
    assert drawn["Zoom into the drawn region"]["box"] == box.model_dump()


def test_a_corrected_class_changes_the_actions() -> None:
    wrong = att(ImageClass.RADIOGRAPH)
    fixed = att(ImageClass.STAINED_TISSUE, by="person")
    assert "Segment lungs (areas)" in actions(wrong)
    assert "Segment nuclei and count" in actions(fixed)
    assert "set by you" in class_label(fixed)
    assert "by the pixel classifier" in class_label(wrong)
    assert report_template(wrong) == "chest-radiograph"


def test_tools_not_fitting_are_not_offered() -> None:
    cxr = att(ImageClass.RADIOGRAPH)
    names = tool_names_for(REGISTRY, cxr, Scope([cxr]))
    assert "segment" in names and "slide_zoom" not in names and "slide_note" not in names


def test_form_of_a_narrowed_schema_and_back() -> None:
    ct = att(ImageClass.CROSS_SECTION, AttachmentKind.DICOM, "CT")
    schema = image_schema(REGISTRY.get("view_dicom"), ct, Scope([ct]))
    assert schema is not None
    specs = {s.name: s for s in form_fields(schema, {"image_id": "img1"})}
    assert specs["window"].kind == "choice" and "brain" in specs["window"].choices
    assert specs["image_id"].choices == ("img1",)
    assert specs["center"].optional and "frame" not in specs  # one frame: no frame field
    values = ["img1", "brain", "", ""]
    assert collect(list(specs.values()), values) == {"image_id": "img1", "window": "brain"}
    values = ["img1", "auto", "40", "400"]
    assert collect(list(specs.values()), values)["width"] == 400
    with pytest.raises(ValueError, match="Center"):
        collect(list(specs.values()), ["img1", "auto", "forty", ""])


def test_form_box_json_and_optional_enum() -> None:
    zoom = REGISTRY.get("slide_zoom").parameters_schema()
    specs = form_fields(zoom)
    box = next(s for s in specs if s.name == "box")
    assert box.kind == "box" and box.widgets == 4
    args = collect(specs, ["img1", 1, 2, 30, 40])
    assert args["box"] == {"x": 1, "y": 2, "width": 30, "height": 40}
    search = form_fields(REGISTRY.get("search_knowledge").parameters_schema())
    section = next(s for s in search if s.name == "section")
    assert section.kind == "choice" and section.value == NONE_CHOICE
    args = collect(search, ["effusion", NONE_CHOICE, "ct", "", 3])
    assert args == {"query": "effusion", "modality": "ct", "k": 3}
    # With nothing attached, the optional image reference is narrowed away: no field.
    bare = form_fields(narrow_refs(REGISTRY.get("search_knowledge").parameters_schema(), []))
    assert "image_id" not in {s.name for s in bare} and "query" in {s.name for s in bare}
    seg = form_fields(REGISTRY.get("segment").parameters_schema())
    points = next(s for s in seg if s.name == "points")
    assert points.kind == "json"


def test_welcome_says_the_limits_plainly() -> None:
    text = welcome_markdown(load_profile("smollm2-135m"), REGISTRY)
    assert "Not a medical device" in text
    assert "cannot see images" in text and "quick actions" in text
    for tool in REGISTRY:
        assert f"**{tool.name}**: {tool.description.splitlines()[0]}" in text
    plumbing = load_profile("tiny-llava")
    assert plumbing.test_only
    assert any("plumbing" in line for line in model_limits(plumbing))
    assert not any("cannot see" in line for line in model_limits(plumbing))
    labels = dict((v, k) for k, v in tool_choices(REGISTRY))
    assert (
        labels["segment"] == "segment — Segment structures in an attached image and measure them."
    )


def test_tool_step_summary_names_count_and_areas() -> None:
    result = {
        "target": "nuclei_he", "count": 6, "total_area": {"value": 1062.0, "unit": "µm²"},
        "mean_area": {"value": 177.0, "unit": "µm²"}, "structures": [{}] * 6,
    }  # fmt: skip
    assert result_summary(json.dumps(result)) == "6 nuclei, total 1,062 µm², mean 177 µm²"
    lungs = {
        "target": "lung_fields", "count": 2, "total_area": {"value": 37700, "unit": "px"},
        "structures": [{"name": "right lung", "area": {"value": 18840, "unit": "px"}},
                       {"name": "left lung", "area": {"value": 18860, "unit": "px"}}],
    }  # fmt: skip
    assert "right lung 18,840 px" in result_summary(json.dumps(lungs))
    assert result_summary("not json") == ""
