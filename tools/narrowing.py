"""Each tool's argument schema fitted to the session's images, and per-image defaults.

What the image is (its `AttachmentKind` and `ImageFacts`: class, modality, body part,
frames) settles most arguments before any model is asked: a chest radiograph can only be
segmented into lung fields, a CT series may be viewed with HU window presets, a frame
number lies in 1..frames, and a box or points exist only when the person drew them. The
same narrowed schema feeds the model's constrained decoding (assistant/actions.py), its
prompt, and the forms and quick actions of the UI and `medassist tool`.

Frames are 1-based everywhere a person or a model sees them; tools convert internally.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tools.attachments import Attachment, AttachmentKind, ImageClass
from tools.errors import ToolArgumentError, suggest
from tools.geometry import Box
from tools.registry import IMAGE_REF_KEY, Tool
from tools.segmentation.config import SegmentationConfig
from tools.segmentation.types import Target

__all__ = [
    "Drawn",
    "Scope",
    "check_arguments",
    "defaults",
    "image_schema",
    "narrow_refs",
    "narrowed_schema",
]

Schema = dict[str, Any]

CHEST_PARTS = frozenset({"", "CHEST", "THORAX", "LUNG", "TORSO", "WHOLEBODY"})
"""Body Part Examined values (or none) for which lung fields make sense on a radiograph."""
CT_WINDOWS = ["auto", "lung", "mediastinum", "bone", "brain", "abdomen", "full"]
PLAIN_WINDOWS = ["auto", "full"]
"""HU presets only mean something on CT; MR has no Hounsfield scale (view_dicom refuses)."""
AUTOMATIC_2D = [
    Target.NUCLEI_HE, Target.NUCLEI_FLUORESCENCE, Target.TISSUE, Target.LUNG_FIELDS,
    Target.RETINAL_VESSELS,
]  # fmt: skip
"""Targets offered when the image's class is not known."""


@dataclass(frozen=True)
class Drawn:
    """What the person drew on one image (pixels of that image; level 0 on a slide)."""

    image_id: str
    box: Box | None = None
    points: tuple[tuple[int, int], ...] = ()
    background_points: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class Scope:
    """What narrowing knows: the session's images, what was drawn, which backends exist."""

    attachments: Sequence[Attachment] = ()
    drawn: Sequence[Drawn] = ()
    ct_organs: bool = False
    """TotalSegmentator is configured (target ct_organs on CT series)."""
    sam: bool = False
    """A SAM checkpoint is configured (backend sam for prompted targets)."""

    @classmethod
    def of(
        cls, attachments: Iterable[Attachment], deps: Sequence[object] = (),
        drawn: Sequence[Drawn] = (),
    ) -> Scope:  # fmt: skip
        """A scope from the session's attachments and the tools' typed dependencies."""
        seg = next((d for d in deps if isinstance(d, SegmentationConfig)), SegmentationConfig())
        return cls(
            tuple(attachments),
            tuple(drawn),
            ct_organs=seg.totalsegmentator.home is not None,
            sam=seg.sam.path is not None,
        )

    @property
    def ids(self) -> list[str]:
        """Attachment ids in upload order."""
        return [a.id for a in self.attachments]

    def drawn_on(self, image_id: str) -> Drawn | None:
        """The last drawing on that image, if any."""
        return next((d for d in reversed(self.drawn) if d.image_id == image_id), None)


def narrow_refs(schema: Any, image_ids: Sequence[str]) -> Any:
    """Replace every attachment-reference field with an enum of the real ids."""
    if isinstance(schema, dict):
        if schema.get(IMAGE_REF_KEY) == "image":
            out = {k: v for k, v in schema.items() if k != IMAGE_REF_KEY}
            out["enum"] = list(image_ids)
            return out
        if "anyOf" in schema and not image_ids:
            # An optional image argument with nothing attached: only its other branches.
            branches = [b for b in schema["anyOf"] if b.get(IMAGE_REF_KEY) != "image"]
            schema = {**schema, "anyOf": branches}
        return {k: narrow_refs(v, image_ids) for k, v in schema.items()}
    if isinstance(schema, list):
        return [narrow_refs(v, image_ids) for v in schema]
    return schema


# -- facts ------------------------------------------------------------------------------


def facts_known(att: Attachment) -> bool:
    """Whether the upload's facts were filled in (width is set once the header was read)."""
    return att.facts.width is not None


def image_class(att: Attachment) -> ImageClass | None:
    """The image's class; slides count as stained tissue when nothing else is known."""
    if att.facts.image_class is not None:
        return att.facts.image_class
    return ImageClass.STAINED_TISSUE if att.kind.is_slide else None


def is_ct(att: Attachment) -> bool:
    """A CT image or series (Hounsfield units)."""
    return (att.facts.modality or "").upper() == "CT"


def targets(att: Attachment, scope: Scope) -> list[Target]:
    """Segmentation targets that fit the image, most useful first."""
    drawn = scope.drawn_on(att.id)
    cls = image_class(att)
    out: list[Target]
    if att.kind.is_slide:
        out = [Target.TISSUE]
        if drawn is not None and drawn.box is not None:  # regions need a box on a slide
            nuclei = Target.NUCLEI_FLUORESCENCE if cls is ImageClass.FLUORESCENCE else None
            out = [nuclei or Target.NUCLEI_HE, Target.TISSUE]
    elif cls is None:
        out = list(AUTOMATIC_2D)
    elif cls is ImageClass.RADIOGRAPH:
        chest = (att.facts.body_part or "").upper().replace(" ", "") in CHEST_PARTS
        out = [Target.LUNG_FIELDS] if chest else []
    elif cls is ImageClass.STAINED_TISSUE:
        out = [Target.NUCLEI_HE, Target.TISSUE]
    elif cls is ImageClass.FLUORESCENCE:
        out = [Target.NUCLEI_FLUORESCENCE]
    elif cls is ImageClass.FUNDUS:
        out = [Target.RETINAL_VESSELS]
    else:
        out = []
    if att.kind is AttachmentKind.SERIES and is_ct(att) and scope.ct_organs:
        out.insert(0, Target.CT_ORGANS)
    if drawn is not None and (drawn.box is not None or drawn.points):
        out.append(Target.PROMPTED)
    return out


# -- per-tool rules: (schema for one image, the image, scope) -> schema, or None ----------

Rule = Callable[[Schema, Attachment, Scope], Schema | None]


def _drop(schema: Schema, *names: str) -> None:
    for name in names:
        schema["properties"].pop(name, None)
        if name in schema.get("required", []):
            schema["required"].remove(name)


def _const_or_drop(schema: Schema, name: str, value: Any) -> None:
    """Keep an argument only as the exact value the person gave (e.g. a drawn box)."""
    if value in (None, (), []):
        _drop(schema, name)
        return
    prop = schema["properties"][name]
    schema["properties"][name] = {"description": prop.get("description", ""), "const": value}


def _frames(schema: Schema, name: str, att: Attachment) -> None:
    if not facts_known(att):
        return
    if att.facts.frames <= 1:
        _drop(schema, name)
        return
    prop = schema["properties"][name]
    bounded = {"type": "integer", "minimum": 1, "maximum": att.facts.frames}
    schema["properties"][name] = {
        "anyOf": [bounded, {"type": "null"}],
        "default": None,
        "description": f"{prop.get('description', '')} (1..{att.facts.frames})".strip(),
    }


def _not_slides(schema: Schema, att: Attachment, scope: Scope) -> Schema | None:
    return None if att.kind.is_slide else schema


def _only_slides(schema: Schema, att: Attachment, scope: Scope) -> Schema | None:
    return schema if att.kind.is_slide else None


def _view(schema: Schema, att: Attachment, scope: Scope) -> Schema | None:
    if att.kind.is_slide:
        return None
    props = schema["properties"]
    if is_ct(att):
        props["window"]["enum"] = CT_WINDOWS
    else:  # no HU presets, and no description offering them
        props["window"]["enum"] = PLAIN_WINDOWS
        props["window"]["description"] = "Display window. auto: the file's own; full: whole range."
    if att.kind is AttachmentKind.IMAGE:  # 8-bit pictures: no DICOM values to window
        _drop(schema, "center", "width")
    _frames(schema, "frame", att)
    return schema


def _zoom(schema: Schema, att: Attachment, scope: Scope) -> Schema | None:
    if not att.kind.is_slide:
        return None
    width, height = att.facts.width, att.facts.height
    if width and height:
        box = schema["properties"]["box"]["properties"]
        box["x"]["maximum"], box["width"]["maximum"] = width - 1, width
        box["y"]["maximum"], box["height"]["maximum"] = height - 1, height
    return schema


def _only_described(description: str, kept: Sequence[str]) -> str:
    """Keep the 'name: meaning' parts of a description whose name is in `kept`."""
    parts = [p for p in description.split("; ") if p.split(":", 1)[0].strip() in kept]
    return "; ".join(parts).rstrip(".") + "." if parts else ""


def _segment(schema: Schema, att: Attachment, scope: Scope) -> Schema | None:
    fitting = targets(att, scope)
    if not fitting:
        return None
    target = schema["properties"]["target"]
    target["enum"] = [t.value for t in fitting]
    target["description"] = _only_described(target.get("description", ""), target["enum"])
    drawn = scope.drawn_on(att.id)
    box = drawn.box.model_dump() if drawn and drawn.box else None
    _const_or_drop(schema, "box", box)
    _const_or_drop(schema, "points", [list(p) for p in drawn.points] if drawn else None)
    background = [list(p) for p in drawn.background_points] if drawn else None
    _const_or_drop(schema, "background_points", background)
    microscopy = image_class(att) in (ImageClass.STAINED_TISSUE, ImageClass.FLUORESCENCE)
    if not microscopy or att.kind.is_slide or att.facts.spacing_known:
        _drop(schema, "microns_per_pixel")
    if scope.sam and Target.PROMPTED in fitting:
        schema["properties"]["backend"]["enum"] = ["classical", "sam"]
    else:  # the tool chooses (totalsegmentator for ct_organs)
        _drop(schema, "backend")
    return schema


def _person_only(schema: Schema, att: Attachment, scope: Scope) -> Schema | None:
    """Never offered: the person draws a measurement in the viewer, which runs it directly."""
    return None


RULES: dict[str, Rule] = {
    "describe_image": _not_slides,
    "view_dicom": _view,
    "slide_overview": _only_slides,
    "slide_zoom": _zoom,
    "slide_note": _only_slides,
    "segment": _segment,
    "measure": _person_only,
}
"""Per-tool rules; a tool without one is narrowed by its image ids only."""


def _image_field(schema: Schema) -> str | None:
    """The required argument naming an attachment, if the tool has one."""
    for name in schema.get("required", []):
        if schema["properties"][name].get(IMAGE_REF_KEY) == "image":
            return str(name)
    return None


def image_schema(tool: Tool, att: Attachment, scope: Scope) -> Schema | None:
    """The tool's schema for one image (its id fixed), or None when the tool does not fit it."""
    schema = copy.deepcopy(tool.parameters_schema())
    name = _image_field(schema)
    if name is None:
        return narrow_refs(schema, scope.ids)  # type: ignore[no-any-return]
    rule = RULES.get(tool.name)
    narrowed = rule(schema, att, scope) if rule else schema
    if narrowed is None:
        return None
    narrowed = narrow_refs(narrowed, scope.ids)
    narrowed["properties"][name] = {**narrowed["properties"][name], "enum": [att.id]}
    return narrowed  # type: ignore[no-any-return]


def narrowed_schema(tool: Tool, scope: Scope) -> Schema | None:
    """The tool's schema over all images (one variant per distinct narrowing), or None.

    None means the tool fits none of the session's images (or needs one and none is
    attached). Images whose narrowing is the same share one variant with an id enum.
    """
    schema = tool.parameters_schema()
    name = _image_field(schema)
    if name is None:
        return narrow_refs(schema, scope.ids)  # type: ignore[no-any-return]
    variants: dict[str, Schema] = {}
    for att in scope.attachments:
        one = image_schema(tool, att, scope)
        if one is None:
            continue
        key = json.dumps({**one, "properties": {**one["properties"], name: None}}, sort_keys=True)
        if key in variants:
            variants[key]["properties"][name]["enum"].append(att.id)
        else:
            variants[key] = one
    if not variants:
        return None
    options = list(variants.values())
    return options[0] if len(options) == 1 else {"anyOf": options}


def fits(tool: Tool, scope: Scope) -> bool:
    """Whether the tool can be used on anything in the session."""
    return narrowed_schema(tool, scope) is not None


def defaults(tool: Tool, att: Attachment | None, scope: Scope) -> dict[str, Any] | None:
    """Arguments a one-click run of the tool uses on `att`, or None when it does not fit.

    Only what the image settles: e.g. segment on H&E -> nuclei_he, on a chest X-ray ->
    lung_fields; a drawn box or points are used as drawn. Arguments that need the person
    (a note's text, a search query) are left out.
    """
    name = _image_field(tool.parameters_schema())
    if att is None:
        return {} if name is None else None
    one = image_schema(tool, att, scope)
    if one is None:
        return None
    out: dict[str, Any] = {name: att.id} if name else {}
    props = one["properties"]
    for key, prop in props.items():
        if "const" in prop and key != name:
            out[key] = prop["const"]
    if "target" in props:
        out["target"] = props["target"]["enum"][0]
        if "box" in out and not att.kind.is_slide:
            out["target"] = Target.PROMPTED.value  # the person drew the object
    if tool.name == "slide_zoom":
        drawn = scope.drawn_on(att.id)
        if drawn is not None and drawn.box is not None:
            out["box"] = drawn.box.model_dump()
    return out


def check_arguments(schema: Schema, args: Mapping[str, Any], what: str) -> None:
    """Refuse arguments the narrowed `schema` of one image rules out, naming the options.

    Only the top-level rules narrowing sets (which arguments exist, enums, consts, integer
    bounds); the tool's own model checks the rest. `what` names the image in messages.
    """
    props: dict[str, Any] = schema.get("properties", {})
    for key, value in args.items():
        if key not in props:
            raise ToolArgumentError(
                f"argument {key!r} does not apply to {what}; its arguments are: "
                f"{', '.join(props) or 'none'}." + suggest(key, props)
            )
        branches = props[key].get("anyOf", [props[key]])
        if value is None and any(b.get("type") == "null" for b in branches):
            continue
        spec = next((b for b in branches if b.get("type") != "null"), props[key])
        if "enum" in spec and value not in spec["enum"]:
            options = ", ".join(json.dumps(v) for v in spec["enum"])
            raise ToolArgumentError(
                f"{key}={json.dumps(value)} does not fit {what}; options: {options}"
            )
        if "const" in spec and value != spec["const"]:
            raise ToolArgumentError(f"{key} must be {json.dumps(spec['const'])} for {what}")
        if spec.get("type") == "integer" and isinstance(value, int):
            low, high = spec.get("minimum"), spec.get("maximum")
            if (low is not None and value < low) or (high is not None and value > high):
                raise ToolArgumentError(f"{key}={value} is outside {low}..{high} for {what}")
