"""De-identification of DICOM headers (PS3.15 Annex E basic profile) and of file names.

`deidentify` is a pure function: it returns a cleaned copy and never touches pixels. It
applies the basic profile with the *Retain Longitudinal Temporal Information with
Modified Dates* and *Retain Patient Characteristics* options:

- patient name and ID become pseudonyms derived from the session key; birth date, IDs,
  addresses, telephone numbers, institution, physicians, operators, accession and study
  numbers, descriptions and comments are removed or emptied;
- every person name (VR PN) anywhere, including inside sequences, is emptied;
- every UID that is not a standard DICOM UID (root 1.2.840.10008) is remapped to a
  ``2.25.<128-bit>`` UID derived from the session key, so one study keeps one UID;
- every date (DA, and the date part of DT) is shifted by the same number of days per key;
  times of day, age (capped at 90 years), sex, size and weight are kept (they matter for
  reading images);
- private tags and overlay/curve groups (6000-60FF, 5000-50FF) are removed.

The same key always gives the same pseudonyms, so series of one study still line up.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from copy import deepcopy
from datetime import date, timedelta
from pathlib import PurePath

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from tools.imaging.limits import captured_warnings

STANDARD_UID_ROOT = "1.2.840.10008."
DEID_METHOD = "MedAssist PS3.15 basic profile, dates shifted, UIDs remapped"

_REMOVE = frozenset({
    "AcquisitionComments", "AcquisitionContextSequence", "AcquisitionDeviceProcessingDescription",
    "AdditionalPatientHistory", "AdmissionID", "AdmittingDiagnosesCodeSequence",
    "AdmittingDiagnosesDescription", "Allergies", "BranchOfService",
    "ConsultingPhysicianIdentificationSequence", "ContentSequence",
    "ContributingEquipmentSequence", "CountryOfResidence", "CurrentPatientLocation",
    "DataSetTrailingPadding", "DerivationDescription", "DetectorID", "DeviceSerialNumber",
    "DigitalSignaturesSequence", "DischargeDiagnosisDescription", "EncryptedAttributesSequence",
    "EthnicGroup", "FrameComments", "GantryID", "GraphicAnnotationSequence", "IconImageSequence",
    "ImageComments", "InstitutionAddress", "InstitutionCodeSequence", "InstitutionName",
    "InstitutionalDepartmentName", "InsurancePlanIdentification",
    "IssuerOfAccessionNumberSequence", "IssuerOfAdmissionIDSequence", "IssuerOfPatientID",
    "IssuerOfServiceEpisodeID", "MedicalAlerts", "MedicalRecordLocator", "MilitaryRank",
    "ModifiedAttributesSequence", "Occupation", "OperatorIdentificationSequence",
    "OrderCallbackPhoneNumber", "OrderEnteredBy", "OrderEntererLocation",
    "OriginalAttributesSequence", "OtherPatientIDs", "OtherPatientIDsSequence",
    "OtherPatientNames", "PatientAddress", "PatientBirthDateInAlternativeCalendar",
    "PatientBirthName", "PatientBirthTime", "PatientComments",
    "PatientDeathDateInAlternativeCalendar", "PatientInstitutionResidence",
    "PatientInsurancePlanCodeSequence", "PatientMotherBirthName",
    "PatientPrimaryLanguageCodeSequence", "PatientReligiousPreference", "PatientState",
    "PatientTelecomInformation", "PatientTelephoneNumbers", "PatientTransportArrangements",
    "PerformedLocation", "PerformedProcedureStepDescription", "PerformedProcedureStepID",
    "PerformedStationName", "PerformingPhysicianIdentificationSequence", "PersonAddress",
    "PersonIdentificationCodeSequence", "PersonTelephoneNumbers",
    "PhysiciansOfRecordIdentificationSequence", "PhysiciansReadingStudyIdentificationSequence",
    "PregnancyStatus", "ProtocolName", "ReasonForStudy", "ReasonForVisit",
    "ReferencedPatientAliasSequence", "ReferencedPatientPhotoSequence",
    "ReferencedPatientSequence", "ReferringPhysicianAddress",
    "ReferringPhysicianIdentificationSequence", "ReferringPhysicianTelephoneNumbers",
    "RegionOfResidence", "RequestAttributesSequence", "RequestedProcedureDescription",
    "RequestedProcedureID", "RequestingService", "ResponsibleOrganization",
    "ResponsiblePersonRole", "ScheduledPatientInstitutionResidence",
    "ScheduledProcedureStepDescription", "ScheduledProcedureStepID", "ScheduledStationName",
    "SeriesDescription", "ServiceEpisodeDescription", "ServiceEpisodeID", "SmokingStatus",
    "SourceApplicationEntityTitle", "SpecialNeeds", "StationName", "StudyComments",
    "StudyDescription", "StudyIDIssuer", "TextComments", "TextString", "TopicAuthor",
    "TopicKeywords", "TopicSubject", "TopicTitle", "VerifyingOrganization", "VisitComments",
})  # fmt: skip
"""Attributes removed outright (basic profile action X)."""

_EMPTY = frozenset(
    {
        "AccessionNumber", "PatientBirthDate", "StudyID",
        "FillerOrderNumberImagingServiceRequest", "PlacerOrderNumberImagingServiceRequest",
    }
)  # fmt: skip
"""Attributes kept but emptied (action Z): type 2 attributes other software expects."""


def _digest(key: str, value: str) -> bytes:
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).digest()


def remap_uid(uid: str, key: str) -> str:
    """Return a stable ``2.25.`` UID for `uid` under `key`; standard DICOM UIDs are kept."""
    uid = uid.strip().rstrip("\x00")
    if not uid or uid.startswith(STANDARD_UID_ROOT):
        return uid
    return "2.25." + str(int.from_bytes(_digest(key, uid)[:16], "big"))


def date_shift_days(key: str) -> int:
    """Return the number of days (between -3650 and -365) all dates move by under `key`."""
    return -365 - int.from_bytes(_digest(key, "date-shift")[:4], "big") % 3286


def shift_date(value: str, days: int) -> str:
    """Shift a DICOM DA value (YYYYMMDD) by `days`; unparseable dates become empty."""
    text = value.strip()
    try:
        day = date(int(text[0:4]), int(text[4:6]), int(text[6:8]))
    except (ValueError, IndexError):
        return ""
    return (day + timedelta(days=days)).strftime("%Y%m%d") if len(text) == 8 else ""


def _shift_datetime(value: str, days: int) -> str:
    shifted = shift_date(value[:8], days)
    return shifted + value[8:] if shifted else ""


def pseudonym(kind: str, value: str, key: str) -> str:
    """Return a stable pseudonym such as 'ANON-1a2b3c4d5e' for an identifier."""
    return f"{kind}-{_digest(key, value).hex()[:10]}"


def _cap_age(value: str) -> str:
    """Ages above 89 years identify people (HIPAA Safe Harbor): report them as 090Y."""
    text = value.strip().upper()
    if len(text) == 4 and text[:3].isdigit() and text[3] == "Y" and int(text[:3]) > 89:
        return "090Y"
    return text


def _fix_value(vr: str, value: str, key: str, days: int) -> str:
    if vr == "UI":
        return remap_uid(value, key)
    return shift_date(value, days) if vr == "DA" else _shift_datetime(value, days)


def _clean(ds: Dataset, key: str, days: int) -> None:
    for tag in list(ds.keys()):
        try:
            elem = ds[tag]
        except (ValueError, NotImplementedError, KeyError, TypeError):
            del ds[tag]  # an element pydicom cannot parse cannot be judged safe
            continue
        kw, vr = elem.keyword, elem.VR
        if tag.is_private or (tag.group & 0xFF00) in (0x6000, 0x5000) or kw in _REMOVE:
            del ds[tag]
        elif kw == "PatientName":
            elem.value = pseudonym("ANON", str(elem.value), key) if elem.value else ""
        elif kw == "PatientID":
            elem.value = pseudonym("ID", str(elem.value), key) if elem.value else ""
        elif kw == "PatientAge":
            elem.value = _cap_age(str(elem.value or ""))
        elif kw in _EMPTY or vr == "PN":
            elem.value = ""
        elif vr == "SQ":
            for item in elem.value:
                _clean(item, key, days)
        elif vr in ("UI", "DA", "DT") and elem.value not in (None, ""):
            values = elem.value if isinstance(elem.value, MultiValue) else [elem.value]
            fixed = [_fix_value(vr, str(v), key, days) for v in values]
            elem.value = fixed if len(fixed) > 1 else fixed[0]


def deidentify(ds: Dataset, key: str) -> Dataset:
    """Return a de-identified copy of `ds` (header only; pixel data is carried over as is).

    `key` is the session's secret: the same key gives the same UIDs, pseudonyms and date
    shift, a different key gives unrelated ones.
    """
    if not key:
        raise ValueError("deidentify needs a non-empty key (the session's secret)")
    with captured_warnings():  # pydicom's validation warnings quote identifying values
        out = deepcopy(ds)
    return deidentify_in_place(out, key)


def deidentify_in_place(ds: Dataset, key: str) -> Dataset:
    """Like `deidentify`, but change `ds` itself (cheaper for a fresh, private copy)."""
    if not key:
        raise ValueError("deidentify needs a non-empty key (the session's secret)")
    out, days = ds, date_shift_days(key)
    with captured_warnings():
        _clean(out, key, days)
        if getattr(out, "file_meta", None) is not None:
            _clean(out.file_meta, key, days)
    out.PatientIdentityRemoved = "YES"
    out.DeidentificationMethod = DEID_METHOD
    out.LongitudinalTemporalInformationModified = "MODIFIED"
    return out


def session_key(session_id: str, secret: str = "") -> str:
    """Return the de-identification key of a session: its id, salted by a deployment secret."""
    return f"{secret}:{session_id}"


_DICOM_SUFFIXES = frozenset({"", ".dcm", ".dicom", ".dic", ".ima", ".gz"})
_LONG_NUMBER = re.compile(r"\d[\d.\-_]{4,}\d")
_UNSAFE = re.compile(r"[^A-Za-z0-9._\- ]+")


def safe_display_name(
    filename: str, media_type: str | None = None, key: str = "", *, keep_stem: bool = True
) -> str:
    """Return a file name that is safe to show to the model and keep in chat history.

    DICOM files (by media type, or by a .dcm/.dicom/.dic/.ima/.gz/missing extension) are
    often named after the patient, the accession number or a UID, so their name becomes
    ``dicom-<8 hex>.dcm`` (an HMAC of the name under `key`, stable for one name), and ZIP
    archives of a series become ``dicom-series-<8 hex>.zip``. Other
    names keep their stem, cut to 40 characters, with long numbers (6 or more characters
    of digits and separators: record numbers, dates, UIDs) replaced by '#' and characters
    outside letters, digits, space, dot, dash and underscore dropped; with
    ``keep_stem=False`` they become ``image-<8 hex><ext>`` too (for sites whose exports
    are named after patients).
    """
    name = PurePath(filename.replace("\\", "/")).name
    suffix = PurePath(name).suffix.lower()
    tag = _digest(key, name).hex()[:8]
    if suffix == ".zip" or (media_type or "").endswith("+zip"):  # a DICOM series archive
        return f"dicom-series-{tag}.zip"
    if media_type == "application/dicom" or suffix in _DICOM_SUFFIXES:
        return f"dicom-{tag}.dcm"
    if not keep_stem:
        return f"image-{tag}{_UNSAFE.sub('', suffix)}"
    stem = name[: -len(suffix)] if suffix else name
    stem = _LONG_NUMBER.sub("#", _UNSAFE.sub("", stem)).strip(" .")[:40] or "image"
    return stem + _UNSAFE.sub("", suffix)


def context_key(session_id: str, settings: Mapping[str, object]) -> str:
    """Return the key for a tool run: the session id salted with settings['deid_secret']."""
    return session_key(session_id, str(settings.get("deid_secret", "") or ""))


def label(path: PurePath) -> str:
    """Return how messages and logs name a stored file: its safe display name."""
    return safe_display_name(path.name)
