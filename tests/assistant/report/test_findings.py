"""Measured findings: each filler renders real tool results as cited sentences with units."""

from __future__ import annotations

import json

from assistant.report import (
    Filler,
    Support,
    check_support,
    collect_evidence,
    load_template,
    measured_sentences,
)
from assistant.report.model import DraftReport, ReportSection
from tests.assistant.report.conftest import (
    lung_result,
    note_result,
    organ_result,
    tool_message,
    zoom_result,
)
from tests.conftest import make_attachment
from tools.attachments import Attachment, ImageFacts


def _checked(fill: tuple[Filler, ...], messages: list) -> list:  # type: ignore[type-arg]
    evidence = collect_evidence(messages)
    sentences = measured_sentences(fill, evidence)
    report = DraftReport(
        id="r",
        template="ct",
        title="t",
        modality="ct",
        sections=[ReportSection(name="findings", title="Findings", sentences=sentences)],
        evidence=evidence,
    )
    return [s for _, s in check_support(report).sentences()]


def test_lung_areas_cite_the_segmentation_with_its_units() -> None:
    [sentence] = _checked((Filler.LUNG_AREAS,), [tool_message("segment", lung_result(), "c1")])
    assert sentence.citations == ["T1"] and sentence.origin == "measured"
    assert "right lung 16012.25 mm²" in sentence.text and "left lung 14500.25 mm²" in sentence.text
    assert "total 30512.5 mm²" in sentence.text and "area fraction 0.38" in sentence.text
    assert sentence.support == Support.SUPPORTED, sentence.problem
    assert [(m.name, m.value, m.unit, m.ucum) for m in sentence.measurements] == [
        ("right lung area", 16012.25, "mm²", "mm2"),
        ("left lung area", 14500.25, "mm²", "mm2"),
    ]


def test_organ_volumes_in_millilitres() -> None:
    sentences = _checked((Filler.ORGAN_VOLUMES,), [tool_message("segment", organ_result(), "c1")])
    assert [s.text for s in sentences] == [
        "Liver: volume 1532.4 mL (series img2, slices 12 to 61).",
        "Spleen: volume 170.2 mL (series img2, slices 20 to 44).",
    ]
    assert all(s.support == Support.SUPPORTED for s in sentences)
    assert sentences[0].measurements[0].ucum == "mL"


def test_slide_regions_nuclei_density_and_notes() -> None:
    messages = [
        tool_message("slide_zoom", zoom_result(), "c1"),
        tool_message("slide_note", note_result(), "c2"),
    ]
    fill = (Filler.SLIDE_REGIONS, Filler.NUCLEI, Filler.SLIDE_NOTES)
    region, nuclei, note = _checked(fill, messages)
    assert region.citations == ["T1"] and "at 20x" in region.text
    assert "x 2048, y 1024, 1024 × 1024 px" in region.text and "tissue fraction 0.81" in region.text
    assert nuclei.text == "Zoom 1 of slide img3: 148 nuclei-like blobs, 1127.3 per mm²."
    assert [m.ucum for m in nuclei.measurements] == ["{count}", "/mm2"]
    assert note.citations == ["T2"] and "crowded glands with nuclear atypia" in note.text
    assert all(s.support == Support.SUPPORTED for s in (region, nuclei, note))


def test_fillers_ignore_evidence_of_other_kinds() -> None:
    messages = [tool_message("segment", organ_result(), "c1")]
    assert measured_sentences((Filler.LUNG_AREAS, Filler.NUCLEI), collect_evidence(messages)) == []


def test_image_facts_from_the_upload(gradient_png: object) -> None:
    att = make_attachment(gradient_png)  # type: ignore[arg-type]
    ct = Attachment(
        id="img2",
        path=att.path,
        name="x.dcm",
        media_type="application/dicom",
        sha256=att.sha256,
        size_bytes=att.size_bytes,
        facts=ImageFacts(width=512, height=512, frames=40, modality="CT", body_part="CHEST"),
    )
    evidence = collect_evidence([], attachments=[ct])
    assert [e.id for e in evidence] == ["I1"]
    assert "x.dcm" not in json.dumps(evidence[0].model_dump())  # no file names
    [sentence] = measured_sentences((Filler.IMAGE_FACTS,), evidence)
    assert sentence.text == "Image img2: modality CT, body part CHEST, 512 × 512 px, 40 frames."
    assert sentence.citations == ["I1"]


def test_templates_fill_findings_and_leave_the_impression_to_the_model() -> None:
    for name in ("chest-radiograph", "ct", "pathology-slide"):
        template = load_template(name)
        assert template.section("findings").measured
        assert {s.name for s in template.model_sections} >= {"interpretation", "impression"}
