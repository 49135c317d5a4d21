"""Argument schemas narrowed to what each image is, and per-image defaults."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from assistant.catalog import REGISTRY
from tools.attachments import Attachment, AttachmentKind, ImageClass, ImageFacts
from tools.geometry import Box
from tools.narrowing import (
    AUTOMATIC_2D,
    Drawn,
    Scope,
    defaults,
    image_schema,
    narrowed_schema,
    targets,
)
from tools.segmentation.config import SegmentationConfig, TotalSegSettings

C = ImageClass
K = AttachmentKind


def att(
    image_id: str = "img1",
    kind: AttachmentKind = K.IMAGE,
    image_class: ImageClass | None = None,
    **facts: Any,
) -> Attachment:
    """An attachment with facts as the upload check stores them (no file needed)."""
    full = ImageFacts(width=facts.pop("width", 200), height=facts.pop("height", 180),
                      image_class=image_class, **facts)  # fmt: skip
    return Attachment(image_id, Path(f"/nowhere/{image_id}"), image_id, "image/png", "0", 1,
                      kind, full)  # fmt: skip


CXR = att(image_class=C.RADIOGRAPH)
HE = att("img2", image_class=C.STAINED_TISSUE)
CT_SERIES = att("img3", K.SERIES, C.CROSS_SECTION, modality="CT", frames=40, default_frame=19)
MR = att("img4", K.DICOM, C.CROSS_SECTION, modality="MR", frames=10)
SLIDE = att("img5", K.SLIDE, C.STAINED_TISSUE, width=40000, height=30000, spacing_known=True)


def schema(name: str, *attachments: Attachment, **scope: Any) -> dict[str, Any]:
    out = narrowed_schema(REGISTRY.get(name), Scope(attachments, **scope))
    assert out is not None
    return out


def test_chest_xray_segment_has_lungs_only_and_no_box() -> None:
    seg = schema("segment", CXR)
    props = seg["properties"]
    assert props["target"]["enum"] == ["lung_fields"]
    assert props["image_id"]["enum"] == ["img1"]
    text = json.dumps(seg)
    assert "nuclei" not in text and "prompted" not in text
    for gone in ("box", "points", "background_points", "microns_per_pixel", "backend"):
        assert gone not in props
    assert defaults(REGISTRY.get("segment"), CXR, Scope((CXR,))) == {
        "image_id": "img1", "target": "lung_fields"}  # fmt: skip


def test_radiograph_of_a_knee_has_no_lung_fields() -> None:
    knee = att(image_class=C.RADIOGRAPH, modality="DX", body_part="KNEE")
    assert targets(knee, Scope((knee,))) == []
    assert narrowed_schema(REGISTRY.get("segment"), Scope((knee,))) is None


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        (HE, ["nuclei_he", "tissue"]),
        (att(image_class=C.FLUORESCENCE), ["nuclei_fluorescence"]),
        (att(image_class=C.FUNDUS), ["retinal_vessels"]),
        (SLIDE, ["tissue"]),
        (att(image_class=None), [t.value for t in AUTOMATIC_2D]),
    ],
)
def test_targets_fit_the_class(image: Attachment, expected: list[str]) -> None:
    seg = schema("segment", image)
    assert seg["properties"]["target"]["enum"] == expected
    first = defaults(REGISTRY.get("segment"), image, Scope((image,)))
    assert first is not None and first["target"] == expected[0]


def test_microns_only_for_microscopy_without_a_known_scale() -> None:
    assert "microns_per_pixel" in schema("segment", HE)["properties"]
    calibrated = att(image_class=C.STAINED_TISSUE, spacing_known=True)
    assert "microns_per_pixel" not in schema("segment", calibrated)["properties"]


def test_ct_organs_only_on_a_ct_series_with_totalsegmentator() -> None:
    assert narrowed_schema(REGISTRY.get("segment"), Scope((CT_SERIES,))) is None
    on = schema("segment", CT_SERIES, ct_organs=True)
    assert on["properties"]["target"]["enum"] == ["ct_organs"]
    config = SegmentationConfig(totalsegmentator=TotalSegSettings(home=Path("/weights")))
    assert Scope.of([CT_SERIES], [config]).ct_organs
    assert not Scope.of([CT_SERIES]).ct_organs


def test_a_drawn_box_becomes_the_box_and_offers_prompted() -> None:
    box = Box(x=10, y=20, width=30, height=40)
    scope = Scope((CXR,), drawn=(Drawn("img1", box=box),))
    seg = narrowed_schema(REGISTRY.get("segment"), scope)
    assert seg is not None
    assert seg["properties"]["target"]["enum"] == ["lung_fields", "prompted"]
    assert seg["properties"]["box"]["const"] == box.model_dump()
    assert "points" not in seg["properties"]
    args = defaults(REGISTRY.get("segment"), CXR, scope)
    assert args == {"image_id": "img1", "target": "prompted", "box": box.model_dump()}
    REGISTRY.get("segment").parse_args(args)  # valid for the tool itself


def test_slide_box_allows_regions_and_zoom_is_bounded() -> None:
    box = Box(x=100, y=200, width=300, height=400)
    scope = Scope((SLIDE,), drawn=(Drawn("img5", box=box),))
    assert targets(SLIDE, scope) == ["nuclei_he", "tissue", "prompted"]
    zoom = schema("slide_zoom", SLIDE)["properties"]["box"]["properties"]
    assert (zoom["x"]["maximum"], zoom["width"]["maximum"]) == (39999, 40000)
    assert (zoom["y"]["maximum"], zoom["height"]["maximum"]) == (29999, 30000)
    assert defaults(REGISTRY.get("slide_zoom"), SLIDE, scope) == {
        "image_id": "img5", "box": box.model_dump()}  # fmt: skip


def test_view_windows_and_frames() -> None:
    ct = schema("view_dicom", CT_SERIES)["properties"]
    assert "brain" in ct["window"]["enum"] and "lung" in ct["window"]["enum"]
    frame = ct["frame"]["anyOf"][0]
    assert (frame["minimum"], frame["maximum"]) == (1, 40)
    mr = schema("view_dicom", MR)["properties"]
    assert mr["window"]["enum"] == ["auto", "full"]  # no Hounsfield scale on MR
    assert "center" in mr and mr["frame"]["anyOf"][0]["maximum"] == 10
    png = schema("view_dicom", CXR)["properties"]
    assert png["window"]["enum"] == ["auto", "full"] and "lung" not in png["window"]["description"]
    assert "frame" not in png and "center" not in png  # one frame, 8-bit picture


def test_unknown_facts_leave_frames_open() -> None:
    unknown = Attachment("img1", Path("/x"), "x", "image/png", "0", 1)
    frame = schema("view_dicom", unknown)["properties"]["frame"]
    assert {"minimum": 1, "type": "integer"}.items() <= frame["anyOf"][0].items()
    assert "maximum" not in frame["anyOf"][0]


def test_tools_fit_their_kinds() -> None:
    for name in ("slide_overview", "slide_zoom", "slide_note"):
        assert narrowed_schema(REGISTRY.get(name), Scope((CXR,))) is None
        assert image_schema(REGISTRY.get(name), SLIDE, Scope((SLIDE,))) is not None
    for name in ("describe_image", "view_dicom"):
        assert image_schema(REGISTRY.get(name), SLIDE, Scope((SLIDE,))) is None
    assert narrowed_schema(REGISTRY.get("describe_image"), Scope(())) is None
    search = narrowed_schema(REGISTRY.get("search_knowledge"), Scope(()))
    assert search is not None and "query" in search["properties"]


def test_images_narrowed_differently_get_one_variant_each() -> None:
    other_cxr = att("img6", image_class=C.RADIOGRAPH)
    seg = schema("segment", CXR, HE, other_cxr)
    variants = {tuple(v["properties"]["image_id"]["enum"]): v for v in seg["anyOf"]}
    assert set(variants) == {("img1", "img6"), ("img2",)}
    assert variants[("img1", "img6")]["properties"]["target"]["enum"] == ["lung_fields"]
    assert variants[("img2",)]["properties"]["target"]["enum"] == ["nuclei_he", "tissue"]


@pytest.mark.parametrize("image", [CXR, HE, CT_SERIES, MR, SLIDE], ids=lambda a: a.id)
def test_defaults_are_valid_arguments(image: Attachment) -> None:
    scope = Scope((image,), ct_organs=True)
    for tool in REGISTRY:
        args = defaults(tool, image, scope)
        if args is None:
            continue
        needs_person = {"slide_zoom": "box", "slide_note": "text", "search_knowledge": "query"}
        if tool.name in needs_person:
            assert needs_person[tool.name] not in args
            continue
        tool.parse_args(args)
