"""DICOM SR: a TID 1500 measurement report on a SEG, and the report text as a TID 2000-style SR.

Measurements (areas in mm², volumes in mL) become TID 1410/1411 measurement groups that
reference their segment in the SEG and, through it, the original source images. The
report's sections become text items under a "Diagnostic Imaging Report" container with
the source images and the SEG as evidence. Both are built with highdicom.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import highdicom as hd
from highdicom.sr.coding import CodedConcept
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from tools.dicom_export.codes import concept_for
from tools.dicom_export.seg import MANUFACTURER, Algorithm, completed
from tools.dicom_export.sources import SourceImages
from tools.errors import ToolError
from tools.imaging.limits import captured_warnings
from tools.pacs.redact import install_log_redaction

__all__ = ["MeasuredSegment", "ReportSection", "build_measurement_report", "build_text_report"]

MILLILITRE = CodedConcept("ml", "UCUM", "milliliter")
SQUARE_MM = CodedConcept("mm2", "UCUM", "square millimeter")
_SECTIONS = {
    "findings": codes.DCM.Findings,
    "impression": codes.DCM.Impressions,
    "recommendations": codes.DCM.Recommendations,
    "history": codes.DCM.History,
    "technique": codes.DCM.CurrentProcedureDescriptions,
    "interpretation": codes.DCM.Conclusions,
}
"""Report sections with a TID 2000 section concept; others become a titled comment."""


@dataclass(frozen=True)
class MeasuredSegment:
    """A segment's measurement: an area (a planar segment) or a volume (a 3-D one)."""

    segment_number: int
    name: str
    area_mm2: float | None = None
    volume_ml: float | None = None


@dataclass(frozen=True)
class ReportSection:
    """One section of the report text, as the person last saved it."""

    name: str
    title: str
    text: str


def _observation_context() -> hd.sr.ObservationContext:
    device = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=hd.UID(), name=MANUFACTURER
        ),
    )
    return hd.sr.ObservationContext(observer_device_context=device)


def _frames_of(seg: Dataset, segment_number: int) -> list[int]:
    """1-based SEG frame numbers holding `segment_number`."""
    shared = seg.SharedFunctionalGroupsSequence[0].get("SegmentIdentificationSequence")
    numbers = []
    for i, item in enumerate(seg.PerFrameFunctionalGroupsSequence):
        ident = item.get("SegmentIdentificationSequence") or shared  # one segment: shared
        if ident and int(ident[0].ReferencedSegmentNumber) == segment_number:
            numbers.append(i + 1)
    return numbers


def _group(
    m: MeasuredSegment, seg: Dataset, sources: SourceImages, algorithm: Algorithm
) -> hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations | (
    hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations
):
    tracking = hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=m.name[:64])
    finding = concept_for(m.name).type
    algo = hd.sr.AlgorithmIdentification(name=algorithm.name, version=algorithm.version)
    first = sources.datasets[0]
    if m.volume_ml is not None:
        measurement = hd.sr.Measurement(
            name=codes.SCT.Volume, value=m.volume_ml, unit=MILLILITRE, algorithm_id=algo
        )
        return hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=tracking,
            referenced_segment=hd.sr.ReferencedSegment(
                sop_class_uid=seg.SOPClassUID,
                sop_instance_uid=seg.SOPInstanceUID,
                segment_number=m.segment_number,
                source_series=hd.sr.SourceSeriesForSegmentation(first.SeriesInstanceUID),
            ),
            finding_type=finding,
            measurements=[measurement],
        )
    if m.area_mm2 is None:
        raise ToolError(f"{m.name}: no area in mm² or volume in mL to report")
    frames = _frames_of(seg, m.segment_number)
    if not frames:
        raise ToolError(f"{m.name}: segment {m.segment_number} has no frame in the SEG")
    measurement = hd.sr.Measurement(
        name=codes.SCT.Area, value=m.area_mm2, unit=SQUARE_MM, algorithm_id=algo
    )
    return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=tracking,
        referenced_segment=hd.sr.ReferencedSegmentationFrame(
            sop_class_uid=seg.SOPClassUID,
            sop_instance_uid=seg.SOPInstanceUID,
            frame_number=frames,
            segment_number=m.segment_number,
            source_image=hd.sr.SourceImageForSegmentation(
                first.SOPClassUID, first.SOPInstanceUID
            ),
        ),
        finding_type=finding,
        measurements=[measurement],
    )


def build_measurement_report(
    seg: Dataset,
    sources: SourceImages,
    measured: Sequence[MeasuredSegment],
    algorithm: Algorithm,
    *,
    series_number: int = 902,
) -> hd.sr.Comprehensive3DSR:
    """A TID 1500 Measurement Report of `measured`, referencing `seg` and the source images."""
    install_log_redaction()  # highdicom logs the source UIDs at debug level
    if not measured:
        raise ToolError("no measurement in physical units to report (areas in px are not)")
    groups = [_group(m, seg, sources, algorithm) for m in measured]
    with captured_warnings():
        report = hd.sr.MeasurementReport(
            observation_context=_observation_context(),
            procedure_reported=codes.SCT.ImagingProcedure,
            imaging_measurements=groups,
        )
        return hd.sr.Comprehensive3DSR(
            evidence=[*(completed(ds) for ds in sources.datasets), seg],
            content=report[0],
            series_instance_uid=hd.UID(),
            series_number=series_number,
            sop_instance_uid=hd.UID(),
            instance_number=1,
            manufacturer=MANUFACTURER,
            series_description="MedAssist measurements",
        )


def build_text_report(
    sections: Sequence[ReportSection],
    sources: SourceImages,
    evidence: Sequence[Dataset] = (),
    *,
    title: str = "",
    series_number: int = 903,
    final: bool = False,
) -> hd.sr.ComprehensiveSR:
    """The report text as an SR: one text item per non-empty section."""
    install_log_redaction()  # highdicom logs the source UIDs at debug level
    items: list[hd.sr.TextContentItem] = []
    for section in sections:
        text = section.text.strip()
        if not text:
            continue
        concept = _SECTIONS.get(section.name)
        value = text if concept is not None else f"{section.title}: {text}"
        items.append(
            hd.sr.TextContentItem(
                name=concept or codes.DCM.Comment,
                value=value,
                relationship_type=hd.sr.RelationshipTypeValues.CONTAINS,
            )
        )
    if not items:
        raise ToolError("the report has no text to export")
    if title:
        items.insert(
            0,
            hd.sr.TextContentItem(
                name=codes.DCM.Comment,
                value=title,
                relationship_type=hd.sr.RelationshipTypeValues.CONTAINS,
            ),
        )
    with captured_warnings():
        root = hd.sr.ContainerContentItem(name=codes.LN.DiagnosticImagingReport)
        root.ContentSequence = hd.sr.ContentSequence(items)
        return hd.sr.ComprehensiveSR(
            evidence=[*(completed(ds) for ds in sources.datasets), *evidence],
            content=root,
            series_instance_uid=hd.UID(),
            series_number=series_number,
            sop_instance_uid=hd.UID(),
            instance_number=1,
            manufacturer=MANUFACTURER,
            is_complete=True,
            is_final=final,
            series_description="MedAssist report",
        )
