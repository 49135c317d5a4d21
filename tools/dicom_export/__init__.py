"""Results as DICOM: segmentations as SEG, measurements as a TID 1500 SR, the report as SR.

Everything is built with highdicom from the attachment's original instances, so the
objects reference the real SOP instances; `UidMap` takes pseudonyms the model saw back
to the originals, and `find_pseudonyms` checks that none is left in what is written.
"""

from tools.dicom_export.export import ExportedObjects, export_segmentation, read_segmentation
from tools.dicom_export.seg import Algorithm, SegmentSpec, build_seg
from tools.dicom_export.sources import SourceImages, source_images
from tools.dicom_export.sr import (
    MeasuredSegment,
    ReportSection,
    build_measurement_report,
    build_text_report,
)
from tools.dicom_export.uidmap import UidMap, find_pseudonyms

__all__ = [
    "Algorithm",
    "ExportedObjects",
    "MeasuredSegment",
    "ReportSection",
    "SegmentSpec",
    "SourceImages",
    "UidMap",
    "build_measurement_report",
    "build_seg",
    "build_text_report",
    "export_segmentation",
    "find_pseudonyms",
    "read_segmentation",
    "source_images",
]
