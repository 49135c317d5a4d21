"""The model's action schema and prompt, narrowed to the session's images."""

from __future__ import annotations

import json
from pathlib import Path

from assistant import prompts
from assistant.actions import action_schema, native_tools, parse_action, usable
from assistant.catalog import REGISTRY, TOOLS
from tools.attachments import Attachment, AttachmentKind, ImageClass, ImageFacts
from tools.narrowing import Scope, narrowed_schema

CXR = Attachment("img1", Path("/x/cxr.png"), "cxr.png", "image/png", "0", 1,
                 AttachmentKind.IMAGE, ImageFacts(width=512, height=512,
                                                  image_class=ImageClass.RADIOGRAPH))  # fmt: skip
SCOPE = Scope((CXR,))


def _options(schema: dict[str, object]) -> dict[str, dict[str, object]]:
    branches = schema.get("anyOf", [schema])
    assert isinstance(branches, list)
    return {b["properties"]["tool"]["const"]: b for b in branches}


def test_action_schema_for_a_chest_xray() -> None:
    options = _options(action_schema(TOOLS, SCOPE))
    assert "answer" in options
    assert not {"slide_overview", "slide_zoom", "slide_note"} & set(options)
    segment = options["segment"]["properties"]["arguments"]  # type: ignore[index]
    assert segment["properties"]["target"]["enum"] == ["lung_fields"]
    assert "box" not in segment["properties"] and segment["additionalProperties"] is False
    assert "nuclei" not in json.dumps(options["segment"])
    assert "title" not in json.dumps(options)


def test_forced_tool_that_fits_nothing_is_still_offered() -> None:
    forced = [REGISTRY.get("slide_zoom")]
    options = _options(action_schema(forced, SCOPE, allow_answer=False))
    assert set(options) == {"slide_zoom"}
    args = options["slide_zoom"]["properties"]["arguments"]  # type: ignore[index]
    assert args["properties"]["image_id"]["enum"] == ["img1"]
    assert [t["function"]["name"] for t in native_tools(forced, SCOPE, forced=True)] == [
        "slide_zoom"
    ]
    assert native_tools(forced, SCOPE) == []


def test_usable_tools_and_the_catalogue() -> None:
    names = [t.name for t in usable(TOOLS, SCOPE)]
    assert names == ["describe_image", "view_dicom", "segment", "search_knowledge"]
    text = prompts.action_prompt(TOOLS, SCOPE)
    assert 'segment(image_id: "img1", target: "lung_fields")' in text
    assert "slide_zoom(" not in text
    assert "img1 = cxr.png (radiograph)" in text
    assert "(no tools are usable right now)" in prompts.tool_catalogue(
        [REGISTRY.get("slide_note")], SCOPE
    )


def test_parse_action_round_trip() -> None:
    call = parse_action('{"tool": "segment", "arguments": {"image_id": "img1"}}')
    assert call is not None and call.name == "segment"
    assert json.loads(call.arguments) == {"image_id": "img1"}
    assert parse_action('{"tool": "answer"}') is None


def test_numbers_only_the_person_knows_are_left_to_the_form() -> None:
    facts = ImageFacts(
        width=64, height=64, frames=10, modality="MR", image_class=ImageClass.CROSS_SECTION
    )
    mr = Attachment("img1", Path("/x/mr.dcm"), "mr.dcm", "application/dicom", "0", 1,
                    AttachmentKind.DICOM, facts)  # fmt: skip
    he_facts = ImageFacts(width=64, height=64, image_class=ImageClass.STAINED_TISSUE)
    he = Attachment("img2", Path("/x/he.png"), "he.png", "image/png", "0", 1,
                    AttachmentKind.IMAGE, he_facts)  # fmt: skip
    scope = Scope((mr, he))
    options = _options(action_schema(TOOLS, scope))
    views = options["view_dicom"]["properties"]["arguments"]["anyOf"]  # type: ignore[index]
    view = next(v for v in views if v["properties"]["image_id"]["enum"] == ["img1"])
    assert set(view["properties"]) == {"image_id", "window", "frame"}
    assert view["properties"]["frame"]["anyOf"][0]["maximum"] == 10
    segment = options["segment"]["properties"]["arguments"]  # type: ignore[index]
    assert "microns_per_pixel" not in json.dumps(segment)
    # The form (narrowing itself) keeps them for the person.
    form = narrowed_schema(REGISTRY.get("view_dicom"), scope)
    assert form is not None and {"center", "width"} <= set(json.dumps(form).split('"'))
