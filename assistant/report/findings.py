"""Measured findings: tool results rendered as cited sentences by code, never by the model.

Each `Filler` turns the evidence it knows (by tool name and result fields) into sentences
that cite the result they come from and copy its numbers and units exactly, so the support
check can confirm every number. No value is derived here (no sums, no ratios): what a
sentence states is what a tool reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from assistant.report.evidence import Evidence
from assistant.report.model import Measurement, ReportSentence
from assistant.report.templates import Filler

__all__ = ["FILLERS", "measured_sentences", "number"]

_UCUM = {"mm²": "mm2", "µm²": "um2", "mL": "mL", "{count}": "{count}", "/mm²": "/mm2"}
_NUCLEI = ("nuclei_he", "nuclei_fluorescence")


def number(value: Any) -> str:
    """A tool's number as written in the report: the same value, no trailing ``.0``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _area(area: Any) -> str:
    return f"{number(area['value'])} {area['unit']}" if isinstance(area, dict) else ""


def _box(region: Any) -> str:
    """A box as tools report it: {x, y, width, height} (or older [x0, y0, x1, y1])."""
    if isinstance(region, dict):
        return (
            f"x {number(region.get('x'))}, y {number(region.get('y'))}, "
            f"{number(region.get('width'))} × {number(region.get('height'))} px"
        )
    if isinstance(region, list | tuple):
        return "[" + ", ".join(number(v) for v in region) + "]"
    return "(whole image)"


def _sentence(text: str, e: Evidence, measurements: Iterable[Measurement] = ()) -> ReportSentence:
    return ReportSentence(
        text=text, citations=[e.id], origin="measured", measurements=list(measurements)
    )


def _measure(name: str, value: Any, unit: str, e: Evidence) -> Measurement:
    return Measurement(
        name=name, value=float(value), unit=unit, ucum=_UCUM.get(unit), evidence=e.id
    )


def _tool(evidence: Sequence[Evidence], name: str) -> list[tuple[Evidence, dict[str, Any]]]:
    return [
        (e, e.data)
        for e in evidence
        if e.kind == "tool" and e.label == name and isinstance(e.data, dict)
    ]


def _segments(evidence: Sequence[Evidence], *targets: str) -> list[tuple[Evidence, dict[str, Any]]]:
    return [(e, d) for e, d in _tool(evidence, "segment") if d.get("target") in targets]


def _image_facts(evidence: Sequence[Evidence]) -> list[ReportSentence]:
    out: list[ReportSentence] = []
    for e in evidence:
        if e.kind != "image" or not isinstance(e.data, dict):
            continue
        d = e.data
        parts = [f"modality {d['modality']}" if d.get("modality") else ""]
        parts.append(f"body part {d['body_part']}" if d.get("body_part") else "")
        if d.get("width") and d.get("height"):
            parts.append(f"{number(d['width'])} × {number(d['height'])} px")
        if d.get("frames", 1) > 1:
            parts.append(f"{number(d['frames'])} frames")
        if d.get("image_class"):
            by = f" (by {d['image_class_by']})" if d.get("image_class_by") else ""
            parts.append(f"image class {d['image_class'].replace('_', ' ')}{by}")
        out.append(_sentence(f"Image {d['image_id']}: {', '.join(p for p in parts if p)}.", e))
    for e, d in _tool(evidence, "describe_image"):
        parts = [
            f"{d.get('format', 'image')} {number(d['width_px'])} × {number(d['height_px'])} px"
        ]
        if d.get("modality"):
            parts.append(f"modality {d['modality']}")
        if d.get("body_part"):
            parts.append(f"body part {d['body_part']}")
        spacing = d.get("pixel_spacing_mm")
        if spacing:
            parts.append(f"pixel spacing {number(spacing[0])} × {number(spacing[1])} mm")
        if d.get("units"):
            parts.append(f"values in {d['units']}")
        series = d.get("series") or {}
        if series.get("slices"):
            gap = series.get("slice_spacing_mm")
            parts.append(
                f"{number(series['slices'])} slices" + (f" {number(gap)} mm apart" if gap else "")
            )
        out.append(_sentence(f"Image {d['image_id']}: {', '.join(parts)}.", e))
    return out


def _window(evidence: Sequence[Evidence]) -> list[ReportSentence]:
    return [
        _sentence(
            f"Image {d['image_id']} was viewed with window {d['window_used']}"
            f" at frame {number(d['frame'])} of {number(d['frames'])}.",
            e,
        )
        for e, d in _tool(evidence, "view_dicom")
    ]


def _named_areas(e: Evidence, d: dict[str, Any], what: str) -> ReportSentence:
    parts = [f"{s['name']} {_area(s['area'])}" for s in d.get("structures", [])]
    measurements = [
        _measure(f"{s['name']} area", s["area"]["value"], s["area"]["unit"], e)
        for s in d.get("structures", [])
    ]
    listed = "; ".join(parts) if parts else "nothing found"
    text = (
        f"{what} of image {d['image_id']} ({d.get('method', d.get('backend', ''))}): {listed}; "
        f"total {_area(d.get('total_area'))}, area fraction {number(d.get('area_fraction'))} "
        f"of the analysed region (scale {d.get('scale', 'unknown')})."
    )
    return _sentence(text, e, measurements)


def _lung_areas(evidence: Sequence[Evidence]) -> list[ReportSentence]:
    return [_named_areas(e, d, "Lung fields") for e, d in _segments(evidence, "lung_fields")]


def _nuclei(evidence: Sequence[Evidence]) -> list[ReportSentence]:
    out: list[ReportSentence] = []
    for e, d in _segments(evidence, *_NUCLEI):
        sizes = []
        if d.get("mean_area"):
            sizes.append(f"mean area {_area(d['mean_area'])}")
        if d.get("median_area"):
            sizes.append(f"median area {_area(d['median_area'])}")
        measurements = [_measure("nuclei count", d["count"], "{count}", e)]
        if d.get("mean_area"):
            a = d["mean_area"]
            measurements.append(_measure("mean nucleus area", a["value"], a["unit"], e))
        out.append(
            _sentence(
                f"{number(d['count'])} nuclei counted on image {d['image_id']} "
                f"in region {_box(d.get('region'))} ({d.get('method', '')})"
                + (f", {', '.join(sizes)}" if sizes else "")
                + f"; they cover area fraction {number(d.get('area_fraction'))} of the region.",
                e,
                measurements,
            )
        )
    for e, d in _tool(evidence, "slide_zoom"):
        m = d.get("measurements") or {}
        if m.get("nuclei_like_blobs") is None:
            continue
        density = m.get("nuclei_per_mm2")
        measurements = [_measure("nuclei-like blobs", m["nuclei_like_blobs"], "{count}", e)]
        if density is not None:
            measurements.append(_measure("nuclei density", density, "/mm²", e))
        out.append(
            _sentence(
                f"Zoom {number(d['zoom_number'])} of slide {d['image_id']}: "
                f"{number(m['nuclei_like_blobs'])} nuclei-like blobs"
                + (f", {number(density)} per mm²" if density is not None else "")
                + ".",
                e,
                measurements,
            )
        )
    return out


def _tissue(evidence: Sequence[Evidence]) -> list[ReportSentence]:
    out: list[ReportSentence] = []
    for e, d in _tool(evidence, "slide_overview"):
        info = d.get("slide") or {}
        facts = [f"{number(info.get('width'))} × {number(info.get('height'))} full-resolution px"]
        if info.get("objective_power"):
            facts.append(f"objective {number(info['objective_power'])}x")
        if info.get("mpp"):
            facts.append(f"{number(info['mpp'])} µm per pixel")
        pieces = [
            f"piece {r['label']} at x {number(r['x'])}, y {number(r['y'])}, "
            f"{number(r['width'])} × {number(r['height'])} px "
            f"(fraction {number(r['area_fraction'])} of the tissue)"
            for r in d.get("tissue_regions", [])
        ]
        found = "; ".join(pieces) if pieces else "no tissue found at low power"
        out.append(_sentence(f"Slide {d['image_id']}: {', '.join(facts)}; {found}.", e))
    out += [_named_areas(e, d, "Tissue") for e, d in _segments(evidence, "tissue")]
    return out


def _organ_volumes(evidence: Sequence[Evidence]) -> list[ReportSentence]:
    out: list[ReportSentence] = []
    for e, d in _segments(evidence, "ct_organs"):
        structures = d.get("structures", [])
        if not structures:
            out.append(_sentence(f"No organs were labelled on series {d['image_id']}.", e))
        for s in structures:
            organ = s["name"].replace("_", " ").capitalize()
            out.append(
                _sentence(
                    f"{organ}: volume {number(s['volume_ml'])} mL "
                    f"(series {d['image_id']}, slices {number(s['slices'][0])} to "
                    f"{number(s['slices'][1])}).",
                    e,
                    [_measure(f"{s['name']} volume", s["volume_ml"], "mL", e)],
                )
            )
        hidden = d.get("structures_not_listed", 0)
        if hidden:
            out.append(_sentence(f"{number(hidden)} further structures were not listed.", e))
    return out


def _slide_regions(evidence: Sequence[Evidence]) -> list[ReportSentence]:
    out: list[ReportSentence] = []
    for e, d in _tool(evidence, "slide_zoom"):
        r, m = d.get("region"), d.get("measurements") or {}
        power = d.get("magnification")
        at = f"at {number(power)}x" if power else "at low power"
        scale = f" ({number(d['um_per_px'])} µm per shown pixel)" if d.get("um_per_px") else ""
        out.append(
            _sentence(
                f"Zoom {number(d['zoom_number'])} of slide {d['image_id']}: region "
                f"{_box(r)} (full resolution) {at}{scale}; tissue fraction "
                f"{number(m.get('tissue_fraction'))}, haematoxylin OD "
                f"{number(m.get('hematoxylin_od'))}, eosin OD {number(m.get('eosin_od'))}.",
                e,
            )
        )
    return out


def _slide_notes(evidence: Sequence[Evidence]) -> list[ReportSentence]:
    last: dict[str, tuple[Evidence, dict[str, Any]]] = {}
    for e, d in _tool(evidence, "slide_note"):
        last[str(d.get("image_id"))] = (e, d)  # each result lists all notes so far
    return [
        _sentence(f'Note on slide {image}: "{note}"', e)
        for image, (e, d) in last.items()
        for note in d.get("notes", [])
    ]


def _structures(evidence: Sequence[Evidence]) -> list[ReportSentence]:
    known = ("lung_fields", "tissue", "ct_organs", *_NUCLEI)
    return [
        _named_areas(e, d, f"Segmentation ({d.get('target')})")
        for e, d in _tool(evidence, "segment")
        if d.get("target") not in known and "total_area" in d
    ]


FILLERS: dict[Filler, Callable[[Sequence[Evidence]], list[ReportSentence]]] = {
    Filler.IMAGE_FACTS: _image_facts,
    Filler.WINDOW: _window,
    Filler.LUNG_AREAS: _lung_areas,
    Filler.NUCLEI: _nuclei,
    Filler.TISSUE: _tissue,
    Filler.ORGAN_VOLUMES: _organ_volumes,
    Filler.SLIDE_REGIONS: _slide_regions,
    Filler.SLIDE_NOTES: _slide_notes,
    Filler.STRUCTURES: _structures,
}


def measured_sentences(
    fill: Iterable[Filler], evidence: Sequence[Evidence]
) -> list[ReportSentence]:
    """The sentences `fill` renders from `evidence`, in filler order."""
    return [s for f in fill for s in FILLERS[f](evidence)]
