"""Segment concepts, and the session map from pseudonyms back to the originals."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tools.imaging.factory import PHI, ct_phantom, make_dataset
from tools.dicom_export import UidMap, find_pseudonyms
from tools.dicom_export.codes import LOCAL_SCHEME, concept_for
from tools.imaging.deid import deidentify, pseudonym, remap_uid


@pytest.mark.parametrize(
    ("name", "code", "modifier"),
    [
        ("right lung", "39607008", "24028007"),
        ("left lung", "39607008", "7771000"),
        ("nucleus", "84640000", None),
        ("kidney_left", "64033007", "7771000"),
        ("liver", "10200004", None),
        ("vertebrae_L1", "51282000", None),
    ],
)
def test_snomed_concepts(name: str, code: str, modifier: str | None) -> None:
    concept = concept_for(name)
    assert concept.type.value == code and concept.type.scheme_designator == "SCT"
    assert (concept.modifier.value if concept.modifier else None) == modifier


def test_unknown_names_get_a_local_code_not_a_wrong_one() -> None:
    concept = concept_for("kidney_cyst_left")  # not a kidney
    assert concept.local and concept.type.scheme_designator == LOCAL_SCHEME
    assert concept.type.value == "kidney-cyst-left"


def test_map_restores_what_the_model_saw(tmp_path: Path) -> None:
    ds = make_dataset(ct_phantom(8, 8))
    key = "secret:session"
    seen = deidentify(ds, key)  # what the model's tools report from
    uid_map = UidMap().add_all([ds], key)
    path = uid_map.save(tmp_path)
    assert path.stat().st_mode & 0o077 == 0  # owner only
    loaded = UidMap.load(tmp_path)
    assert loaded.original(str(seen.StudyInstanceUID)) == PHI["StudyInstanceUID"]
    text = f"Series {seen.SeriesInstanceUID} of {seen.PatientName} ({seen.PatientID})."
    assert loaded.restore_text(text) == (
        f"Series {PHI['SeriesInstanceUID']} of {PHI['PatientName']} ({PHI['PatientID']})."
    )
    assert loaded.restore_text("2.25.1234567890123 stays") == "2.25.1234567890123 stays"
    shifted = str(seen.StudyDate)  # the model saw the study date shifted
    assert shifted != PHI["StudyDate"]
    iso = f"{shifted[:4]}-{shifted[4:6]}-{shifted[6:]}"
    assert loaded.restore_text(f"Study of {iso} ({shifted}); guideline of 2019-05-01.") == (
        f"Study of 2024-01-17 ({PHI['StudyDate']}); guideline of 2019-05-01."
    )
    assert find_pseudonyms(ds, loaded) == []
    found = find_pseudonyms(seen, loaded)
    assert remap_uid(PHI["SOPInstanceUID"], key) in found
    assert pseudonym("ANON", PHI["PatientName"], key) in found
