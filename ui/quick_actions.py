"""One-click actions for an attachment, chosen by what it is (pure: no Gradio here).

What the image is was settled at upload (kind and class, or the person's correction),
so the useful first steps are known without asking any model: lungs on a chest
radiograph, nuclei on H&E or fluorescence, vessels on a fundus photograph, windows on
CT. Each action's arguments are `tools.narrowing.defaults` with at most one argument
changed, and only when the narrowed schema allows that value, so an action can never
ask for what the image does not support.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from tools.attachments import Attachment, AttachmentKind, ImageClass
from tools.imaging.volume_header import NIFTI_MEDIA_TYPE, NRRD_MEDIA_TYPE
from tools.narrowing import Scope, defaults, image_class, image_schema
from tools.registry import Registry

__all__ = [
    "CLASS_LABELS", "QuickAction", "class_label", "newest", "quick_actions", "report_template",
    "tool_names_for", "upload_choice",
]  # fmt: skip

CLASS_LABELS: dict[ImageClass, str] = {
    ImageClass.RADIOGRAPH: "radiograph (X-ray)",
    ImageClass.CROSS_SECTION: "CT / MR",
    ImageClass.STAINED_TISSUE: "stained tissue (H&E / IHC)",
    ImageClass.FLUORESCENCE: "fluorescence microscopy",
    ImageClass.FUNDUS: "fundus photograph",
    ImageClass.OTHER: "other",
}
_BY = {"header": "from the DICOM header", "classifier": "by the pixel classifier",
       "person": "set by you"}  # fmt: skip
_KIND = {
    AttachmentKind.IMAGE: "image",
    AttachmentKind.DICOM: "DICOM",
    AttachmentKind.SERIES: "DICOM series",
    AttachmentKind.SLIDE: "whole-slide image",
    AttachmentKind.SLIDE_ARCHIVE: "DICOM whole-slide image",
}
_VOLUMES = {NIFTI_MEDIA_TYPE: "NIfTI volume", NRRD_MEDIA_TYPE: "NRRD volume"}
_WINDOW_LABELS = {
    "lung": "Lung window",
    "mediastinum": "Mediastinum window",
    "bone": "Bone window",
    "brain": "Brain window",
    "abdomen": "Abdomen window",
}


@dataclass(frozen=True)
class QuickAction:
    """A button: run `tool` with `arguments`, open the tool's form, or draft a report.

    For a report, `tool` names the report template.
    """

    label: str
    tool: str
    arguments: dict[str, Any] = field(default_factory=dict)
    action: Literal["run", "report", "form"] = "run"


def upload_choice(att: Attachment) -> tuple[str, str]:
    """An upload as a chooser lists it: ('img2 · image-3f2a.png', 'img2')."""
    return f"{att.id} · {att.name}", att.id


def class_label(att: Attachment) -> str:
    """'DICOM · CT / MR (from the DICOM header)': the kind and class as detected."""
    cls = image_class(att)
    volume = _VOLUMES.get(att.media_type)  # NIfTI, NRRD: read as a series, not DICOM
    what = volume or _KIND[att.kind]
    if att.facts.modality:
        what += f" {att.facts.modality}"
    if cls is None:
        return f"{what} · class unknown"
    by = _BY.get(att.facts.image_class_by or "", "assumed for a slide")
    if volume and att.facts.image_class_by == "header":
        by = "from the file header"
    return f"{what} · {CLASS_LABELS[cls]} ({by})"


def report_template(att: Attachment | None) -> str | None:
    """The report template that fits the image (configs/reports), or None."""
    if att is None:
        return None
    if att.kind.is_slide:
        return "pathology-slide"
    cls = image_class(att)
    if cls is ImageClass.RADIOGRAPH:
        return "chest-radiograph"
    if cls is ImageClass.CROSS_SECTION or (att.facts.modality or "").upper() in ("CT", "MR"):
        return "ct"
    if cls is ImageClass.STAINED_TISSUE:
        return "pathology-slide"
    return None


class _Builder:
    def __init__(self, registry: Registry, att: Attachment, scope: Scope) -> None:
        self.registry, self.att, self.scope = registry, att, scope
        self.out: list[QuickAction] = []

    def run(self, label: str, tool: str, **change: Any) -> None:
        """Add an action if the tool fits and every changed value is allowed by its schema."""
        if tool not in self.registry:
            return
        spec = self.registry.get(tool)
        args = defaults(spec, self.att, self.scope)
        schema = image_schema(spec, self.att, self.scope)
        if args is None or schema is None:
            return
        for key, value in change.items():
            if value not in schema["properties"].get(key, {}).get("enum", [value]):
                return
            args[key] = value
        self.out.append(QuickAction(label, tool, args))

    def form(self, label: str, tool: str) -> None:
        """Add a button opening the tool's form (for arguments only the person can give)."""
        if tool in self.registry and image_schema(self.registry.get(tool), self.att, self.scope):
            self.out.append(QuickAction(label, tool, action="form"))

    def report(self, label: str) -> None:
        """Add a button drafting the report whose template fits the image."""
        template = report_template(self.att)
        if template is not None:
            self.out.append(QuickAction(label, template, action="report"))


def quick_actions(registry: Registry, att: Attachment, scope: Scope) -> list[QuickAction]:
    """The one-click actions for `att`, most useful first."""
    b = _Builder(registry, att, scope)
    cls = image_class(att)
    if att.kind.is_slide:
        b.run("Overview", "slide_overview")
        b.run("Find tissue", "segment", target="tissue")
        drawn = scope.drawn_on(att.id)
        if drawn is not None and drawn.box is not None:
            b.run("Zoom into the drawn region", "slide_zoom")
            b.run("Count nuclei in the drawn region", "segment", target="nuclei_he")
        b.form("Write a note…", "slide_note")
        b.report("Draft pathology report")
        return b.out
    b.run("Describe", "describe_image")
    if cls is ImageClass.RADIOGRAPH:
        b.run("Segment lungs (areas)", "segment", target="lung_fields")
        b.run("Show", "view_dicom")
        b.report("Draft chest report")
    elif cls is ImageClass.STAINED_TISSUE:
        b.run("Segment nuclei and count", "segment", target="nuclei_he")
        b.run("Find tissue", "segment", target="tissue")
    elif cls is ImageClass.FLUORESCENCE:
        b.run("Segment nuclei and count", "segment", target="nuclei_fluorescence")
    elif cls is ImageClass.FUNDUS:
        b.run("Segment vessels", "segment", target="retinal_vessels")
    elif cls is ImageClass.CROSS_SECTION:
        for window, label in _WINDOW_LABELS.items():
            b.run(label, "view_dicom", window=window)
        b.run("Show (its own window)", "view_dicom", window="auto")
        b.run("Segment organs (volumes)", "segment", target="ct_organs")
        b.report("Draft CT report")
    if cls is None or cls is ImageClass.OTHER:
        b.run("Show", "view_dicom")
    drawn = scope.drawn_on(att.id)
    if drawn is not None and (drawn.box is not None or drawn.points):
        b.run("Segment what I marked", "segment", target="prompted")
    return b.out


def tool_names_for(registry: Registry, att: Attachment | None, scope: Scope) -> list[str]:
    """Tools whose form fits `att` (tools needing no image always fit)."""
    out: list[str] = []
    for tool in registry:
        if att is None:
            if defaults(tool, None, scope) is not None:
                out.append(tool.name)
        elif image_schema(tool, att, scope) is not None:
            out.append(tool.name)
    return out


def newest(attachments: Iterable[Attachment]) -> Attachment | None:
    """The last uploaded attachment, if any."""
    last = None
    for last in attachments:  # noqa: B007 - the loop keeps the last one
        pass
    return last
