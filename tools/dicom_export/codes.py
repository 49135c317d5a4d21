"""Coded concepts for segment labels: SNOMED CT where the name is known, else a local code.

DICOM SEG describes each segment by a property category and type (CID 7150/7151).
Names from our backends ("right lung", "nucleus", "kidney left", TotalSegmentator's
"vertebrae L1") are looked up in the SNOMED CT codes pydicom ships (from the standard's
context groups), laterality ("left", "right") becoming a type modifier. A name with no
SNOMED code gets a code in the local scheme ``99MEDASSIST`` (PS3.3 §8.2: coding schemes
starting with "99" are private), so no concept is claimed that was not looked up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from highdicom.sr.coding import CodedConcept
from pydicom.sr.codedict import codes

__all__ = ["LOCAL_SCHEME", "SegmentConcept", "concept_for"]

LOCAL_SCHEME = "99MEDASSIST"

_CATEGORY_ANATOMY = codes.SCT.AnatomicalStructure
_CATEGORY_TISSUE = codes.SCT.Tissue
_CATEGORY_CELL = codes.SCT.Cell
_CATEGORY_ABNORMAL = codes.SCT.MorphologicallyAbnormalStructure

_KNOWN = {
    "nucleus": (_CATEGORY_CELL, codes.SCT.Nucleus),
    "nuclei": (_CATEGORY_CELL, codes.SCT.Nucleus),
    "tissue": (_CATEGORY_TISSUE, codes.SCT.Tissue),
    "vessels": (_CATEGORY_ANATOMY, codes.SCT.BloodVessel),
    "retinal vessels": (_CATEGORY_ANATOMY, codes.SCT.BloodVessel),
    "vessel": (_CATEGORY_ANATOMY, codes.SCT.BloodVessel),
    "lungs": (_CATEGORY_ANATOMY, codes.SCT.Lung),
    "lung fields": (_CATEGORY_ANATOMY, codes.SCT.Lung),
    "object": (_CATEGORY_ABNORMAL, codes.SCT.Mass),
}
"""Names our weight-free backends give, mapped by hand."""

_SIDES = {"left": codes.SCT.Left, "right": codes.SCT.Right}
_WORD = re.compile(r"[A-Za-z0-9]+")
_LEVEL = re.compile(r"^[a-z]?\d{1,2}$")


@dataclass(frozen=True)
class SegmentConcept:
    """What a segment is: category, type, and a laterality modifier if any."""

    category: CodedConcept
    type: CodedConcept
    modifier: CodedConcept | None = None

    @property
    def local(self) -> bool:
        """Whether the type had no SNOMED CT code (a code in our private scheme)."""
        return self.type.scheme_designator == LOCAL_SCHEME


def _coded(code: object) -> CodedConcept:
    return CodedConcept(code.value, code.scheme_designator, code.meaning)  # type: ignore[attr-defined]


def _snomed(words: list[str]) -> CodedConcept | None:
    """The SNOMED CT code `words` name (singular or plural), a trailing level aside.

    "vertebrae L1" is a vertebra, but "kidney cyst" is not a kidney.
    """
    for end in range(len(words), 0, -1):
        if not all(_LEVEL.match(w) for w in words[end:]):
            break
        stem = "".join(w.capitalize() for w in words[:end])
        for candidate in (stem, stem.removesuffix("e"), stem.removesuffix("s")):
            code = getattr(codes.SCT, candidate, None) if candidate else None
            if code is not None and "(" not in code.meaning:  # "(qualifier value)" etc.
                return _coded(code)
    return None


def concept_for(name: str) -> SegmentConcept:
    """The coded concept of a segment called `name` (case and '_' ignored)."""
    text = " ".join(_WORD.findall(name.replace("_", " ").lower()))
    if text in _KNOWN:
        category, kind = _KNOWN[text]
        return SegmentConcept(_coded(category), _coded(kind))
    words = text.split()
    side = next((w for w in words if w in _SIDES), None)
    rest = [w for w in words if w not in _SIDES]
    if " ".join(rest) in _KNOWN:
        category, kind = _KNOWN[" ".join(rest)]
        found: CodedConcept | None = _coded(kind)
    else:
        category, found = _CATEGORY_ANATOMY, _snomed(rest)
    modifier = _coded(_SIDES[side]) if side else None
    if found is None:
        slug = "-".join(words)[:64] or "structure"
        return SegmentConcept(_coded(category), CodedConcept(slug, LOCAL_SCHEME, name[:64]))
    return SegmentConcept(_coded(category), found, modifier)
