"""De-identification of DICOM headers (PS3.15 Annex E basic profile) and of file names.

`deidentify` is a pure function: it returns a cleaned copy and never touches pixels. It
applies every row of PS3.15 Table E.1-1 (`tools.imaging.deid_profile`, generated from the
standard's table) with the *Retain Longitudinal Temporal Information with Modified Dates*
option and a strict subset of the *Retain Patient Characteristics* option:

- X attributes are removed, Z emptied, D given a dummy value, U remapped, K kept; where
  the table leaves the choice ("X/Z/D", "Z/D", ...) the action that keeps least is taken
  (remove before empty before dummy): these datasets only feed summaries and are never
  written back as DICOM objects, so nothing needs a placeholder;
- patient name and ID become pseudonyms derived from the session key (a Z attribute may
  hold a dummy value), so that two files of one patient stay linkable within a session;
- dates (DA, and the date part of DT) are shifted by the same number of days per key,
  the option's "C"; times of day are kept. Age (capped at 90 years), sex, size and weight
  are kept (they matter for reading images); the option's other characteristics (ethnic
  group, smoking and pregnancy status, allergies, ...) are removed as in the basic profile;
- rules beyond the 2020 table, for rows added to it since and for safety: a few extra
  removals (`_EXTRA_REMOVE`), every other person name (VR PN) anywhere emptied, every UID that is
  not a standard DICOM UID (root 1.2.840.10008) remapped to a ``2.25.<128-bit>`` UID
  derived from the session key (so one study keeps one UID), every date anywhere shifted,
  private tags and whole overlay/curve groups (6000-60FF, 5000-50FF) removed.

The same key always gives the same pseudonyms, so series of one study still line up.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from copy import deepcopy
from datetime import date, timedelta
from pathlib import PurePath
from typing import Any, Literal

from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

from tools.imaging.deid_profile import TABLE_E1_1
from tools.imaging.limits import captured_warnings
from tools.imaging.volume_header import NIFTI_MEDIA_TYPE, NRRD_MEDIA_TYPE

STANDARD_UID_ROOT = "1.2.840.10008."
DEID_METHOD = "MedAssist PS3.15 basic profile, dates shifted, UIDs remapped"

Action = Literal["remove", "empty", "dummy", "uid", "keep", "shift"]
"""What happens to one attribute (the table's X, Z, D, U, K, and C for dates)."""

_CODES: dict[str, Action] = {"X": "remove", "Z": "empty", "D": "dummy", "U": "uid", "K": "keep"}


def conservative(cell: str) -> Action:
    """The action for a Table E.1-1 cell: of combined choices ('X/Z/D'), the one keeping least."""
    choices = {code.rstrip("*") for code in cell.split("/")}
    for code in ("X", "Z", "D", "U", "K"):
        if code in choices:
            return _CODES[code]
    raise ValueError(f"unknown Table E.1-1 action {cell!r}; known: X, Z, D, U, K and combinations")


RETAINED_CHARACTERISTICS = frozenset({"PatientAge", "PatientSex", "PatientSize", "PatientWeight"})
"""Kept under the Retain Patient Characteristics option (the option allows more)."""

_EXTRA_REMOVE = frozenset({
    "ContributingEquipmentSequence", "EncryptedAttributesSequence",
    "IssuerOfAccessionNumberSequence", "PatientBirthDateInAlternativeCalendar",
    "PatientDeathDateInAlternativeCalendar", "ResponsiblePersonRole",
    "ScheduledProcedureStepID", "SourceApplicationEntityTitle",
})  # fmt: skip
"""Removed although the 2020 table does not list them (later editions list most)."""

_PSEUDONYMS = {0x00100010: "ANON", 0x00100020: "ID"}
"""Patient name and ID (Z in the table) hold a keyed pseudonym instead of nothing."""

_PATIENT_AGE = 0x00101010
_RETAINED_TAGS = frozenset(tag_for_keyword(k) for k in RETAINED_CHARACTERISTICS)


def _profile_action(tag: int, basic: str, dates: str, characteristics: str) -> Action:
    vr = dictionary_VR(tag)
    if dates == "C" and vr in ("DA", "DT", "TM"):
        return "keep" if vr == "TM" else "shift"
    if characteristics == "K" and tag in _RETAINED_TAGS:
        return "keep"
    return conservative(basic)


PROFILE: dict[int, Action] = {
    tag: _profile_action(tag, *row) for tag, row in TABLE_E1_1.items()
} | {tag: "remove" for tag in (tag_for_keyword(k) for k in _EXTRA_REMOVE) if tag is not None}
"""Tag -> action for every attribute the profile names (the generic rules do the rest)."""

DUMMY_TEXT = "ANONYMIZED"
_DUMMY: dict[str, Any] = {
    "DA": "19000101", "DT": "19000101000000", "TM": "000000", "IS": "0", "DS": "0",
    "AS": "000Y", "US": 0, "SS": 0, "UL": 0, "SL": 0, "UV": 0, "SV": 0, "FL": 0.0, "FD": 0.0,
    "OB": b"\x00\x00", "OW": b"\x00\x00", "UN": b"\x00\x00",
}  # fmt: skip
"""Dummy values (action D) by VR; other text VRs get DUMMY_TEXT, sequences no items."""

_STRING_VRS = frozenset({
    "AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI",
    "UR", "UT",
})  # fmt: skip
"""VRs whose empty value is '' (numbers and bytes become None)."""


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


def _empty(vr: str) -> Any:
    return Sequence() if vr == "SQ" else "" if vr in _STRING_VRS else None


def _dummy(vr: str, value: Any, key: str) -> Any:
    if vr == "UI":
        return remap_uid(str(value or "0"), key)
    if vr == "SQ":
        return Sequence()  # a dummy sequence holds no items: nothing of the original
    return _DUMMY.get(vr, DUMMY_TEXT)


def _generic(vr: str, value: Any, key: str, days: int) -> Any:
    """Rules for attributes the table does not name: names, UIDs and dates anywhere."""
    if vr == "PN":
        return ""
    if vr in ("UI", "DA", "DT") and value not in (None, ""):
        values = value if isinstance(value, MultiValue) else [value]
        fixed = [_fix_value(vr, str(v), key, days) for v in values]
        return fixed if len(fixed) > 1 else fixed[0]
    return value


def _clean(ds: Dataset, key: str, days: int) -> None:
    for tag in list(ds.keys()):
        try:
            elem = ds[tag]
        except (ValueError, NotImplementedError, KeyError, TypeError):
            del ds[tag]  # an element pydicom cannot parse cannot be judged safe
            continue
        vr, action = elem.VR, PROFILE.get(tag)
        if tag.is_private or (tag.group & 0xFF00) in (0x6000, 0x5000) or action == "remove":
            del ds[tag]
        elif tag in _PSEUDONYMS:
            elem.value = pseudonym(_PSEUDONYMS[tag], str(elem.value), key) if elem.value else ""
        elif tag == _PATIENT_AGE:
            elem.value = _cap_age(str(elem.value or ""))
        elif action == "empty":
            elem.value = _empty(vr)
        elif action == "dummy":
            elem.value = _dummy(vr, elem.value, key)
        elif vr == "SQ":
            for item in elem.value:
                _clean(item, key, days)
        elif action != "keep":  # uid, shift, or not in the table: the generic rules
            elem.value = _generic(vr, elem.value, key, days)


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


def session_key(session_id: str, secret: str) -> str:
    """Return the de-identification key of a session: its id, salted by a deployment secret.

    The id alone is public (exports, URLs), so an empty secret is refused rather than
    giving keys that anyone could recompute.
    """
    if not secret.strip():
        raise ValueError("session_key needs the deployment's secret (see assistant.deid_secret)")
    return f"{secret}:{session_id}"


_DICOM_SUFFIXES = frozenset({"", ".dcm", ".dicom", ".dic", ".ima", ".gz"})
_SLIDE_SUFFIXES = frozenset({".svs", ".ndpi", ".scn", ".mrxs", ".vms", ".vmu", ".bif", ".svslide"})
_LONG_NUMBER = re.compile(r"\d[\d.\-_]{4,}\d")
_UNSAFE = re.compile(r"[^A-Za-z0-9._\- ]+")
_MODALITY = re.compile(r"[A-Z]{2,4}")
_VOLUME_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr")
_ALREADY_SAFE = re.compile(
    r"dicom-(series-|slide-)?([A-Z]{2,4}-)?[0-9a-f]{8}\.(dcm|zip)|(image|slide)-[0-9a-f]{8}(\.[a-z0-9]+)*"
    r"|volume-([A-Z]{2,4}-)?[0-9a-f]{8}\.(nii\.gz|nii|nrrd|nhdr)"
)


def safe_display_name(
    filename: str,
    media_type: str | None = None,
    key: str = "",
    *,
    keep_stem: bool = True,
    modality: str | None = None,
) -> str:
    """Return a file name that is safe to show to the model and keep in chat history.

    DICOM files (by media type, or by a .dcm/.dicom/.dic/.ima/.gz/missing extension) are
    often named after the patient, the accession number or a UID, so their name becomes
    ``dicom-<8 hex>.dcm`` (an HMAC of the name under `key`, stable for one name), and ZIP
    archives of a series (a slide) become ``dicom-series-<8 hex>.zip``
    (``dicom-slide-<8 hex>.zip``). A known `modality` (from the header: CT, MR, CR, SM ...)
    goes before the hash, so that a person recognises the file: ``dicom-CT-<8 hex>.dcm``.
    NIfTI and NRRD volumes are named as other files below but keep their whole suffix:
    ``volume-<8 hex>.nii.gz`` (``volume-CT-<8 hex>.nii.gz``) or the cleaned stem. Other
    names keep their stem, cut to 40 characters, with long numbers (6 or more characters
    of digits and separators: record numbers, dates, UIDs) replaced by '#' and characters
    outside letters, digits, space, dot, dash and underscore dropped. With
    ``keep_stem=False`` (the default configuration, `privacy.keep_upload_names`) they
    become ``image-<8 hex><ext>``, or ``slide-<8 hex><ext>`` for whole-slide formats, since
    exports and slides are often named after the patient.
    """
    name = PurePath(filename.replace("\\", "/")).name
    if _ALREADY_SAFE.fullmatch(name):  # a name this function gave: keep it (one name per file)
        return name
    suffix = PurePath(name).suffix.lower()
    tag = _digest(key, name).hex()[:8]
    if modality and _MODALITY.fullmatch(modality.strip().upper()):
        tag = f"{modality.strip().upper()}-{tag}"
    volume = _volume_suffix(name, media_type)
    if volume and not keep_stem:  # NIfTI, NRRD: keep the double suffix (.nii.gz)
        return f"volume-{tag}{volume}"
    if volume:
        stem = _LONG_NUMBER.sub("#", _UNSAFE.sub("", name[: -len(volume)])).strip(" .")[:40]
        return (stem or "volume") + volume
    if (media_type or "").endswith("dicom-wsi+zip"):  # the levels of a DICOM slide
        return f"dicom-slide-{tag}.zip"
    if suffix == ".zip" or (media_type or "").endswith("+zip"):  # a DICOM series archive
        return f"dicom-series-{tag}.zip"
    if media_type == "application/dicom" or suffix in _DICOM_SUFFIXES:
        return f"dicom-{tag}.dcm"
    if not keep_stem:  # slides are often named after the patient too (Surname_Firstname.svs)
        kind = "slide" if suffix in _SLIDE_SUFFIXES else "image"
        return f"{kind}-{tag}{_UNSAFE.sub('', suffix)}"
    stem = name[: -len(suffix)] if suffix else name
    stem = _LONG_NUMBER.sub("#", _UNSAFE.sub("", stem)).strip(" .")[:40] or "image"
    return stem + _UNSAFE.sub("", suffix)


def _volume_suffix(name: str, media_type: str | None) -> str | None:
    """The NIfTI or NRRD suffix the shown name gets (from the name, else the media type)."""
    lower = name.lower()
    for suffix in _VOLUME_SUFFIXES:
        if lower.endswith(suffix) and len(lower) > len(suffix):
            return suffix
    return {NIFTI_MEDIA_TYPE: ".nii", NRRD_MEDIA_TYPE: ".nrrd"}.get(media_type or "")


def label(path: PurePath) -> str:
    """Return how messages and logs name a stored file: its safe display name."""
    return safe_display_name(path.name)
