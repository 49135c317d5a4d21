"""PS3.15 basic-profile de-identification and safe file names."""

from __future__ import annotations

from copy import deepcopy

import numpy as np
from pydicom.uid import CTImageStorage

from tests.tools.imaging.factory import NESTED_PHI, PHI, PRIVATE_PHI, ct_phantom, make_dataset
from tools.imaging.deid import (
    date_shift_days,
    deidentify,
    remap_uid,
    safe_display_name,
    shift_date,
)


def _text(ds: object) -> str:
    return str(ds)


def test_identifying_values_are_gone() -> None:
    ds = make_dataset(ct_phantom())
    clean = deidentify(ds, "key-a")
    dump = _text(clean) + _text(clean.file_meta)
    for value in [*PHI.values(), PRIVATE_PHI, NESTED_PHI]:
        assert value not in dump, value
    assert "InstitutionName" not in clean and "StudyDescription" not in clean
    assert clean.PatientBirthDate == "" and clean.AccessionNumber == ""
    assert str(clean.PatientName).startswith("ANON-") and clean.PatientID.startswith("ID-")
    assert not any(elem.tag.is_private for elem in clean)
    assert clean.PatientIdentityRemoved == "YES"
    assert "ReferencedPerformedProcedureStepSequence" not in clean  # X/Z/D: removed
    assert clean.ReferencedSeriesSequence[0].ReferringPhysicianName == ""


def test_kept_attributes_and_pixels() -> None:
    ds = make_dataset(ct_phantom())
    original = deepcopy(ds)
    clean = deidentify(ds, "key-a")
    assert str(ds) == str(original)  # pure: the input is untouched
    assert clean.SOPClassUID == CTImageStorage  # standard UIDs are kept
    assert (clean.Modality, clean.BodyPartExamined, clean.Manufacturer) == ("CT", "CHEST", "Acme")
    assert clean.PixelData == ds.PixelData
    np.testing.assert_array_equal(clean.pixel_array, ds.pixel_array)


def test_uids_and_dates_are_consistent_per_key() -> None:
    a1, a2 = (
        deidentify(make_dataset(ct_phantom()), "a"),
        deidentify(make_dataset(ct_phantom()), "a"),
    )
    b = deidentify(make_dataset(ct_phantom()), "b")
    assert a1.StudyInstanceUID == a2.StudyInstanceUID != b.StudyInstanceUID
    assert a1.StudyInstanceUID.startswith("2.25.") and len(a1.StudyInstanceUID) <= 64
    assert a1.SOPInstanceUID == a1.file_meta.MediaStorageSOPInstanceUID
    assert a1.ReferencedSeriesSequence[0].SeriesInstanceUID == a1.SeriesInstanceUID
    assert a1.StudyDate == a2.StudyDate != PHI["StudyDate"]
    assert -3650 <= date_shift_days("a") <= -365
    assert remap_uid("1.2.840.10008.1.2.1", "a") == "1.2.840.10008.1.2.1"


def test_ages_over_89_are_capped() -> None:
    ds = make_dataset(ct_phantom())
    ds.PatientAge = "097Y"
    assert deidentify(ds, "k").PatientAge == "090Y"
    ds.PatientAge = "045Y"
    assert deidentify(ds, "k").PatientAge == "045Y"


def test_shift_date() -> None:
    assert shift_date("20240301", -1) == "20240229"
    assert shift_date("not a date", -10) == ""


def test_safe_display_name() -> None:
    dicom = safe_display_name("Quixote_Dulcinea_19610412.dcm")
    assert dicom.startswith("dicom-") and dicom.endswith(".dcm") and "Quixote" not in dicom
    assert dicom == safe_display_name("Quixote_Dulcinea_19610412.dcm")
    assert safe_display_name("IM_0001", key="k") != safe_display_name("IM_0001", key="other")
    assert safe_display_name("scan.png", media_type="application/dicom").startswith("dicom-")
    assert safe_display_name("chest_xray_20240117.png") == "chest_xray_#.png"
    assert safe_display_name("../../etc/passwd<x>.jpg") == "passwdx.jpg"
    assert safe_display_name("MRN 4471923.JPG") == "MRN #.jpg"
    strict = safe_display_name("Quixote_Dulcinea.png", keep_stem=False)
    assert strict.startswith("image-") and strict.endswith(".png") and "Quixote" not in strict


def test_a_safe_name_is_kept_as_it_is() -> None:
    """Safe names are fixed points: naming a stored upload again gives the same name."""
    for original, media in (
        ("Quixote_Dulcinea_19610412.dcm", None),
        ("Quixote.zip", None),
        ("Quixote.svs", "image/tiff"),
        ("Quixote.png", "image/png"),
    ):
        first = safe_display_name(original, media, "k" * 20, keep_stem=False)
        assert "Quixote" not in first
        assert safe_display_name(first, media, "other-key" * 3, keep_stem=False) == first
