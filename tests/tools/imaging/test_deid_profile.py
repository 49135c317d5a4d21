"""Every row of PS3.15 Table E.1-1 is applied: a dataset holding every listed attribute."""

from __future__ import annotations

from typing import Any

import pytest
from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.tag import Tag

from tools.imaging.deid import (
    DUMMY_TEXT,
    PROFILE,
    RETAINED_CHARACTERISTICS,
    conservative,
    date_shift_days,
    deidentify,
    shift_date,
)
from tools.imaging.deid_profile import GROUP_ROWS, TABLE_E1_1

MARK = "MARKER"
UID = "1.2.826.0.1.3680043.8.498.4242"
"""A UID outside the standard's root: de-identification must replace it."""

_VALUES: dict[str, Any] = {
    "PN": "Marker^Patient", "DA": "20240117", "TM": "101010", "DT": "20240117101010",
    "UI": UID, "IS": "12", "DS": "1.5", "AS": "045Y", "US": 7, "SS": 7, "UL": 7, "SL": 7,
    "UV": 7, "SV": 7, "FL": 1.5, "FD": 1.5, "AT": 0x00100010, "CS": MARK,
    "OB": b"MARK", "OW": b"MARK", "OF": b"MARK", "OD": b"MARKMARK", "OL": b"MARK",
    "OV": b"MARKMARK", "UN": b"MARK", "UR": "http://example.org/MARKER",
}  # fmt: skip


def _value(vr: str) -> Any:
    if vr == "SQ":
        item = Dataset()
        item.PatientName = "Marker^Nested"
        item.CodeMeaning = MARK
        return [item]
    return _VALUES.get(vr, MARK)


def _every_listed_attribute() -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    for tag in TABLE_E1_1:
        vr = dictionary_VR(tag).split(" or ")[0]  # ambiguous VRs ('US or SS'): the first
        (ds.file_meta if Tag(tag).group == 0x0002 else ds).add_new(tag, vr, _value(vr))
    return ds


def _element(ds: Dataset, tag: int) -> Any:
    return (ds.file_meta if Tag(tag).group == 0x0002 else ds).get(tag)


def test_table_rows_are_real_attributes_with_known_actions() -> None:
    assert len(TABLE_E1_1) > 400  # the 2020 table has 428 single-attribute rows
    assert [hex(t) for t in TABLE_E1_1 if keyword_for_tag(t) == ""] == []
    for basic, dates, characteristics in TABLE_E1_1.values():
        conservative(basic)  # raises on an unknown code
        assert dates in ("", "C") and characteristics in ("", "K", "C")
    assert {row[1] for row in GROUP_ROWS} == {"X"}  # curves, overlays, private: removed


def test_combined_cells_take_the_action_that_keeps_least() -> None:
    assert [conservative(c) for c in ("X/Z/D", "X/D", "X/Z", "Z/D", "X/Z/U*", "D", "U")] == [
        "remove", "remove", "remove", "empty", "remove", "dummy", "uid",
    ]  # fmt: skip
    with pytest.raises(ValueError, match=r"unknown Table E\.1-1 action 'Q'"):
        conservative("Q")


def test_retained_characteristics_are_allowed_by_the_option() -> None:
    allowed = {keyword_for_tag(t) for t, row in TABLE_E1_1.items() if row[2] == "K"}
    assert allowed >= RETAINED_CHARACTERISTICS
    others = allowed - RETAINED_CHARACTERISTICS  # ethnic group, smoking status, allergies, ...
    assert others and {PROFILE[tag_for_keyword(k)] for k in others} == {"remove"}


@pytest.fixture(scope="module")
def cleaned() -> tuple[Dataset, Dataset]:
    ds = _every_listed_attribute()
    return ds, deidentify(ds, "profile-key")


def test_every_remove_attribute_is_gone(cleaned: tuple[Dataset, Dataset]) -> None:
    _, clean = cleaned
    removed = [t for t, a in PROFILE.items() if a == "remove" and t in TABLE_E1_1]
    assert len(removed) > 250
    assert [keyword_for_tag(t) for t in removed if _element(clean, t) is not None] == []


def test_every_other_action_is_applied(cleaned: tuple[Dataset, Dataset]) -> None:
    original, clean = cleaned
    days = date_shift_days("profile-key")
    for tag, action in PROFILE.items():
        if tag not in TABLE_E1_1 or action == "remove":
            continue
        kw, before, after = keyword_for_tag(tag), _element(original, tag), _element(clean, tag)
        assert after is not None, kw
        value = after.value
        if kw in ("PatientName", "PatientID"):  # keyed pseudonyms
            assert str(value).startswith(("ANON-", "ID-")), kw
        elif action == "empty":
            assert value in ("", None) or (after.VR == "SQ" and len(value) == 0), kw
        elif action == "dummy":
            assert value != before.value and MARK not in str(value), kw
            assert after.VR != "PN" or value == DUMMY_TEXT
        elif action == "uid":
            assert str(value).startswith("2.25.") and value != UID, kw
        elif action == "shift":
            shifted = shift_date("20240117", days)
            assert str(value).startswith(shifted), kw
        else:
            assert action == "keep" and value == before.value, kw


def test_no_marker_survives(cleaned: tuple[Dataset, Dataset]) -> None:
    _, clean = cleaned
    values = [
        f"{elem.keyword}={elem.value!s}"
        for elem in [*clean.iterall(), *clean.file_meta.iterall()]
        if elem.VR != "SQ" and elem.keyword != "PatientSex"  # kept on purpose (option K)
    ]
    text = "\n".join(values)
    assert len(values) > 100 and clean.PatientSex == MARK
    for original in (MARK, "Marker", UID, "20240117", "MARK"):
        assert original not in text, original


def test_group_rows_and_private_tags_are_removed() -> None:
    ds = Dataset()
    ds.PatientName = "Marker^Patient"
    ds.add_new(0x60003000, "OW", b"MARK")  # overlay data
    ds.add_new(0x60004000, "LT", MARK)  # overlay comments
    ds.add_new(0x50000010, "US", 3)  # curve group
    block = ds.private_block(0x0011, "ACME", create=True)
    block.add_new(0x01, "LO", MARK)
    clean = deidentify(ds, "k")
    assert [
        t for t in (0x60003000, 0x60004000, 0x50000010, 0x00110010, 0x00111001) if t in clean
    ] == []
    assert MARK not in str(clean)
