"""DICOM SEG from a label image: one binary segment per structure, with coded concepts.

The SEG is derived from the original source instances (`SourceImages`): it copies their
patient and study modules, references each source SOP instance frame by frame and
keeps their geometry (frame of reference, plane positions, pixel spacing). Empty frames
are left out. Built with highdicom, which checks the IOD's rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from copy import deepcopy
from dataclasses import dataclass

import highdicom as hd
import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.sr.codedict import codes

from tools.dicom_export.codes import concept_for
from tools.dicom_export.sources import SourceImages
from tools.errors import ToolError
from tools.imaging.limits import captured_warnings
from tools.pacs.redact import install_log_redaction

__all__ = ["MANUFACTURER", "Algorithm", "SegmentSpec", "build_seg"]

MANUFACTURER = "MedAssist"
SOFTWARE_VERSION = "0.1.0"
_TYPE2 = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate",
          "StudyTime", "StudyID", "AccessionNumber", "ReferringPhysicianName")  # fmt: skip
"""Patient/study attributes the derived objects need present (empty when unknown)."""


@dataclass(frozen=True)
class SegmentSpec:
    """One segment: its number (1..), name, and the label values of the image it covers."""

    number: int
    name: str
    values: tuple[int, ...]


@dataclass(frozen=True)
class Algorithm:
    """What produced the segmentation (recorded in the SEG and the SR)."""

    name: str
    version: str = SOFTWARE_VERSION
    automatic: bool = True


def completed(ds: Dataset) -> Dataset:
    """A copy of a source dataset with the type 2 patient/study attributes present."""
    with captured_warnings():
        out = deepcopy(ds)
        for keyword in _TYPE2:
            if keyword not in out:
                setattr(out, keyword, "")
    return out


def _descriptions(
    segments: Sequence[SegmentSpec], algorithm: Algorithm
) -> list[hd.seg.SegmentDescription]:
    family = codes.cid7162.ArtificialIntelligence
    ident = hd.AlgorithmIdentificationSequence(algorithm.name, family, algorithm.version)
    kind = "AUTOMATIC" if algorithm.automatic else "SEMIAUTOMATIC"
    out: list[hd.seg.SegmentDescription] = []
    for spec in segments:
        concept = concept_for(spec.name)
        desc = hd.seg.SegmentDescription(
            spec.number, spec.name[:64], concept.category, concept.type, kind, ident
        )
        if concept.modifier is not None:
            item = desc.SegmentedPropertyTypeCodeSequence[0]
            item.SegmentedPropertyTypeModifierCodeSequence = DicomSequence([concept.modifier])
        out.append(desc)
    return out


def build_seg(
    sources: SourceImages,
    labels: NDArray[np.integer],
    segments: Sequence[SegmentSpec],
    algorithm: Algorithm,
    *,
    series_number: int = 901,
    description: str = "MedAssist segmentation",
) -> hd.seg.Segmentation:
    """A binary DICOM SEG of `labels` (frames × rows × columns on the source grid)."""
    install_log_redaction()  # highdicom logs the source UIDs at debug level
    first = sources.datasets[0]
    shape = (sources.frames, int(first.Rows), int(first.Columns))
    if labels.shape != shape:
        raise ToolError(
            f"the label image is {labels.shape} (frames, rows, columns) but {sources.image_id} "
            f"is {shape}: a SEG must lie on the source grid"
        )
    if not segments:
        raise ToolError("the segmentation found nothing: there is no segment to export")
    if sources.frames > 1 and not all("FrameOfReferenceUID" in ds for ds in sources.datasets):
        raise ToolError(
            f"{sources.image_id} has no Frame of Reference UID: a SEG of a volume needs one"
        )
    masks = np.stack([np.isin(labels, spec.values) for spec in segments], axis=-1)
    if not masks.any():
        raise ToolError("every segment is empty: there is nothing to export")
    with captured_warnings():
        return hd.seg.Segmentation(
            source_images=[completed(ds) for ds in sources.datasets],
            pixel_array=masks,
            segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=_descriptions(segments, algorithm),
            series_instance_uid=hd.UID(),
            series_number=series_number,
            sop_instance_uid=hd.UID(),
            instance_number=1,
            manufacturer=MANUFACTURER,
            manufacturer_model_name="medassist",
            software_versions=algorithm.version,
            device_serial_number="0",
            content_description=description[:64],
            content_label="MEDASSIST_SEG",
            omit_empty_frames=True,
        )
