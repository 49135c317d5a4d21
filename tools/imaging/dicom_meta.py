"""What a DICOM header says about display and measurement, frame by frame.

Enhanced multi-frame objects keep rescale, spacing and windows in functional group
sequences; classic objects keep them at the top level. The helpers here look in the
per-frame group, then the shared group, then the top level. Nothing here returns
identifying values: `safe_summary` goes through `deidentify`, and the few header strings
read for display (modality, photometric interpretation, rescale type, LUT explanation)
come back only when they are one of the standard's defined terms (or, for the free-text
LUT explanation, made of window words only); anything else is dropped, since a header
can hold any text in any attribute.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydicom.config import IGNORE
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag
from pydicom.uid import UID

from tools.imaging.deid import deidentify_in_place
from tools.imaging.windowing import VoiLut, Window

SUMMARY_KEYS = (
    "Modality", "BodyPartExamined", "StudyDate", "SeriesNumber", "InstanceNumber",
    "ImageType", "ViewPosition", "Laterality", "ImageLaterality", "PatientPosition",
    "PatientSex", "PatientAge", "Manufacturer", "ManufacturerModelName", "SliceThickness",
    "SpacingBetweenSlices", "KVP", "ContrastBolusAgent", "MagneticFieldStrength",
    "RepetitionTime", "EchoTime", "SOPClassUID", "StudyInstanceUID", "SeriesInstanceUID",
    "SOPInstanceUID",
)  # fmt: skip
"""Header attributes tools may report (after de-identification)."""


def _terms(text: str) -> frozenset[str]:
    return frozenset(text.split())


MODALITIES = _terms("""
AR AS ASMT AU BDUS BI BMD CD CF CFM CP CR CS CT CTPROTOCOL DD DF DG DM DMS DOC DS DX EC
ECG EEG EMG EOG EPS ES FA FID FS GM HC HD IO IOL IVOCT IVUS KER KO LEN LP LS M3D MA MG MR
MS NM OAM OCT OP OPM OPR OPT OPTBSV OPTENF OPV OSS OT PA PLAN POS PR PT PX REG RESP RF RG
RTDOSE RTIMAGE RTINTENT RTPLAN RTRAD RTRECORD RTSEGANN RTSTRUCT RWV SEG SM SMR SR SRF ST
STAIN TEXTUREMAP TG US VA VF XA XAPROTOCOL XC
""")
"""Modality (0008,0060) defined terms, current and retired (PS3.3 C.7.3.1.1.1)."""

PHOTOMETRIC = frozenset({
    "MONOCHROME1", "MONOCHROME2", "PALETTE COLOR", "RGB", "HSV", "ARGB", "CMYK", "YBR_FULL",
    "YBR_FULL_422", "YBR_PARTIAL_422", "YBR_PARTIAL_420", "YBR_ICT", "YBR_RCT",
})  # fmt: skip
"""Photometric Interpretation (0028,0004) defined terms, retired ones included."""

RESCALE_TYPES = frozenset({
    "OD", "HU", "US", "MGML", "Z_EFF", "ED", "EDW", "HU_MOD", "PCT", "CPS", "NONE", "BQML",
    "CNTS", "MBQ", "PROPCNT", "GML", "GMLS", "MGMINML", "UMOLMINML", "MLMING", "MLG",
    "1CM", "PCNT", "1", "%",
})  # fmt: skip
"""Rescale Type (0028,1054) defined terms (PS3.3 C.11.1.1.2) and the PET Units terms."""

LUT_WORDS = _terms("""
abdomen abdominal angio auto bone brain chest contrast default dynamic full high linear
liver low lung lut mediastinum narrow normal pelvis range sharp sigmoid smooth soft spine
standard stroke subdural temporal tissue user voi wide window
""")
"""Words a VOI LUT Explanation may consist of to be shown; other text could be anything."""


def code_string(ds: Dataset, keyword: str, allowed: frozenset[str]) -> str | None:
    """The header's `keyword` value if it is one of the `allowed` defined terms, else None."""
    value = str(ds.get(keyword, "") or "").strip().upper()
    return value if value in allowed else None


def lut_explanation(value: object) -> str:
    """A LUT Explanation kept only when made of window words ('SOFT TISSUE'), else ''."""
    text = " ".join(str(value or "").split())[:40]
    words = text.lower().replace("-", " ").replace("_", " ").split()
    return text if words and all(w in LUT_WORDS for w in words) else ""


_LIKELY_BURNED_IN = {"US": "ultrasound", "XA": "angiography", "ES": "endoscopy", "XC": "photo"}
_SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"


def functional(ds: Dataset, frame: int, sequence: str, attr: str) -> Any:
    """Return `attr` for `frame`: per-frame group, shared group, then top level."""
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    groups = []
    if per_frame and frame < len(per_frame):
        groups.append(per_frame[frame])
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared:
        groups.append(shared[0])
    for group in groups:
        items = group.get(sequence)
        if items and attr in items[0]:
            return items[0][attr].value
    return ds[attr].value if attr in ds else None


def _first_float(value: Any) -> float | None:
    if isinstance(value, MultiValue | list | tuple):
        value = value[0] if len(value) else None
    try:
        return None if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return None


def rescale(ds: Dataset, frame: int) -> tuple[float, float]:
    """Return rescale slope and intercept of `frame` (1 and 0 when absent)."""
    slope = _first_float(functional(ds, frame, "PixelValueTransformationSequence", "RescaleSlope"))
    icpt = _first_float(
        functional(ds, frame, "PixelValueTransformationSequence", "RescaleIntercept")
    )
    return (slope if slope else 1.0), (icpt or 0.0)


def header_window(ds: Dataset, frame: int) -> Window | None:
    """Return the first Window Center/Width of `frame`, if the header has a usable one."""
    center = _first_float(functional(ds, frame, "FrameVOILUTSequence", "WindowCenter"))
    width = _first_float(functional(ds, frame, "FrameVOILUTSequence", "WindowWidth"))
    if center is None or width is None or width <= 0:
        return None
    return Window(center, width, "from the file")


def voi_lut(ds: Dataset) -> VoiLut | None:
    """Return the header's first VOI LUT (VOI LUT Sequence), scaled to 8 bits, if any."""
    items = ds.get("VOILUTSequence")
    if not items or "LUTDescriptor" not in items[0] or "LUTData" not in items[0]:
        return None
    item = items[0]
    n_entries, first, bits = (int(v) for v in item.LUTDescriptor)
    raw = item.LUTData
    data = np.frombuffer(raw, "<u2") if isinstance(raw, bytes) else np.asarray(raw)
    data = data[: n_entries or 65536].astype(np.float64)
    if data.size == 0:
        return None
    top = float(2 ** min(max(bits, 1), 16) - 1)
    table = np.clip(np.rint(data / top * 255.0), 0, 255).astype(np.uint8)
    return VoiLut(first, table, lut_explanation(item.get("LUTExplanation")))


def pixel_spacing(ds: Dataset, frame: int) -> tuple[tuple[float, float] | None, str | None]:
    """(row, column) spacing in mm and a caveat; PixelSpacing first, then ImagerPixelSpacing."""
    value = functional(ds, frame, "PixelMeasuresSequence", "PixelSpacing")
    note = None
    if value is None and "ImagerPixelSpacing" in ds:
        value = ds.ImagerPixelSpacing
        factor = _first_float(ds.get("EstimatedRadiographicMagnificationFactor")) or 1.0
        value = [float(v) / factor for v in value]
        note = (
            "spacing is ImagerPixelSpacing (at the detector"
            + (f", divided by the magnification factor {factor:g}" if factor != 1.0 else "")
            + "): distances in the patient are approximate"
        )
    try:
        row, col = (float(v) for v in value)
    except (TypeError, ValueError):
        return None, None
    if row <= 0 or col <= 0:
        return None, None
    return (row, col), note


def burned_in_note(ds: Dataset) -> str | None:
    """Return a warning when the pixels may carry burned-in text (e.g. patient names)."""
    why = None
    if str(ds.get("BurnedInAnnotation", "")).upper() == "YES":
        why = "the header flags burned-in annotation"
    elif str(ds.get("SOPClassUID", "")).startswith(_SECONDARY_CAPTURE):
        why = "it is a secondary capture (often a screenshot)"
    elif str(ds.get("Modality", "")) in _LIKELY_BURNED_IN:
        why = f"{_LIKELY_BURNED_IN[str(ds.Modality)]} images usually have burned-in text"
    if why is None:
        return None
    return (
        f"the image may show identifying text burned into the pixels ({why}); "
        "do not read out names, IDs or dates seen in the image"
    )


_SUMMARY_TAGS = tuple((kw, BaseTag(tag_for_keyword(kw) or 0)) for kw in SUMMARY_KEYS)


def safe_summary(ds: Dataset, key: str) -> dict[str, str]:
    """Return selected header attributes after de-identification, as short strings."""
    subset = Dataset()
    present = ds.keys()  # tags, not keywords: pydicom's keyword lookups dominate otherwise
    for _, tag in _SUMMARY_TAGS:
        if tag in present:
            elem = ds[tag]  # elements are fresh objects below: the raw dataset is untouched
            subset.add(DataElement(tag, elem.VR, elem.value, validation_mode=IGNORE))
    clean = deidentify_in_place(subset, key)
    kept = clean.keys()
    out: dict[str, str] = {}
    for kw, tag in _SUMMARY_TAGS:
        value = clean[tag].value if tag in kept else None
        if value in (None, ""):
            continue
        if isinstance(value, MultiValue):
            text = "\\".join(str(v) for v in value)
        elif kw == "SOPClassUID":
            text = UID(str(value)).name
        elif kw == "Modality" and str(value).strip().upper() not in MODALITIES:
            continue  # kept by the profile, but only a defined term is a modality
        else:
            text = str(value)
        out[kw] = text[:64]
    return out
