"""The DICOMweb client against a real Orthanc: QIDO-RS search keys, WADO-RS, STOW-RS."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from tests.tools.pacs.orthanc import PATIENTS, Orthanc, PacsData
from tools.pacs import PacsClient, StudyQuery


def _client(orthanc: Orthanc) -> PacsClient:
    return PacsClient("test", orthanc.endpoint())


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ({"patient_id": "MRN4471923"}, {"ct"}),
        ({"accession_number": "ACC7700001"}, {"cr"}),
        ({"date_from": date(2024, 1, 1), "date_to": date(2024, 1, 31)}, {"ct"}),
        ({"date_to": date(2023, 12, 31)}, {"cr"}),
        ({"date_from": date(2023, 1, 1)}, {"ct", "cr"}),
        ({"modality": "cr"}, {"cr"}),
        ({"description": "chest"}, {"ct", "cr"}),
        ({"description": "CT CHEST"}, {"ct"}),
        ({"patient_id": "MRN0000000"}, set()),
    ],
)
def test_search_studies(
    orthanc: Orthanc, pacs_data: PacsData, query: dict[str, object], found: set[str]
) -> None:
    studies = {"ct": pacs_data.ct_study, "cr": pacs_data.cr_study}
    with _client(orthanc) as client:
        hits = client.search_studies(StudyQuery.model_validate(query))
    assert {h.study_uid for h in hits} == {studies[k] for k in found}
    for hit in hits:
        kind = "ct" if hit.study_uid == pacs_data.ct_study else "cr"
        assert hit.patient_name == PATIENTS[kind]["PatientName"]
        assert hit.patient_id == PATIENTS[kind]["PatientID"]
        assert hit.study_date == PATIENTS[kind]["StudyDate"]


def test_series_and_retrieve(orthanc: Orthanc, pacs_data: PacsData) -> None:
    with _client(orthanc) as client:
        series = client.search_series(pacs_data.ct_study)  # results sent back may be there too
        assert [(s.series_uid, s.instance_count) for s in series if s.modality == "CT"] == [
            (pacs_data.ct_series, 6)
        ]
        assert all(not s.is_image for s in series if s.modality != "CT")
        instances = list(client.iter_series(pacs_data.ct_study, pacs_data.ct_series))
    assert sorted(str(ds.SOPInstanceUID) for ds in instances) == sorted(pacs_data.ct_instances)
    assert all(str(ds.PatientID) == PATIENTS["ct"]["PatientID"] for ds in instances)
    assert all(ds.pixel_array.shape == (32, 24) for ds in instances)


def test_query_needs_a_key_and_ordered_dates() -> None:
    with pytest.raises(ValidationError, match="at least one of"):
        StudyQuery()
    with pytest.raises(ValidationError, match="is after date_to"):
        StudyQuery(date_from=date(2024, 2, 1), date_to=date(2024, 1, 1))
    with pytest.raises(ValidationError, match="DICOM modality code"):
        StudyQuery(modality="C T")
    with pytest.raises(ValidationError, match="without"):
        StudyQuery(patient_id="MRN*")
    assert StudyQuery(description="chest").search_filters() == {"StudyDescription": "*chest*"}
    day = StudyQuery(date_from=date(2024, 1, 17), date_to=date(2024, 1, 17))
    assert day.search_filters() == {"StudyDate": "20240117"}
    assert StudyQuery(date_to=date(2024, 1, 17)).search_filters() == {"StudyDate": "-20240117"}
