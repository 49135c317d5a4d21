"""The session's way back from what the model saw to the hospital's real identifiers.

The model only ever sees remapped UIDs (``2.25.<hash>`` under the session key) and
pseudonyms (``ANON-…``, ``ID-…``). Results written back to a PACS must reference the
original instances, so each session keeps a local map pseudonym → original in
``<session>/private/uid-map.json`` (owner-only permissions). It never enters a model
request, a tool result or a log line; `restore_text` uses it to put the originals back
(UIDs, patient name and ID, and the header dates it saw shifted) into text the model
wrote before that text leaves as DICOM.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pydicom.dataset import Dataset

from tools.imaging.deid import date_shift_days, pseudonym, remap_uid, shift_date

__all__ = ["MAP_FILE", "UidMap", "find_pseudonyms"]

MAP_FILE = Path("private") / "uid-map.json"
_UID_KEYWORDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID",
                 "FrameOfReferenceUID")  # fmt: skip
_PSEUDO_UID = re.compile(r"2\.25\.\d{10,40}")
_PSEUDO_NAME = re.compile(r"\b(?:ANON|ID)-[0-9a-f]{10}\b")
_DATE_KEYWORDS = ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate")
_DATE = re.compile(r"\b(\d{4})-?(\d{2})-?(\d{2})\b")


@dataclass
class UidMap:
    """Pseudonym → original, for UIDs and for the patient name and ID."""

    uids: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    dates: dict[str, str] = field(default_factory=dict)
    """Shifted header dates (YYYYMMDD) the model may have seen → the real ones."""

    @classmethod
    def load(cls, session_dir: Path) -> UidMap:
        """The session's map (empty if none was recorded yet)."""
        path = session_dir / MAP_FILE
        if not path.is_file():
            return cls()
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            dict(data.get("uids", {})), dict(data.get("names", {})), dict(data.get("dates", {}))
        )

    def save(self, session_dir: Path) -> Path:
        """Write the map atomically, readable by the owner only."""
        path = session_dir / MAP_FILE
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".uid-map-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(
                    {"uids": self.uids, "names": self.names, "dates": self.dates}, out, indent=1
                )
            Path(tmp).chmod(0o600)
            Path(tmp).replace(path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    def add(self, ds: Dataset, key: str) -> None:
        """Record the identifiers of one (raw, original) dataset under the session `key`."""
        for keyword in _UID_KEYWORDS:
            value = str(ds.get(keyword, "") or "").strip()
            if value:
                remapped = remap_uid(value, key)
                if remapped != value:
                    self.uids[remapped] = value
        for keyword, kind in (("PatientName", "ANON"), ("PatientID", "ID")):
            value = str(ds.get(keyword, "") or "")
            if value:
                self.names[pseudonym(kind, value, key)] = value
        days = date_shift_days(key)
        for keyword in _DATE_KEYWORDS:
            value = str(ds.get(keyword, "") or "").strip()
            shifted = shift_date(value, days) if len(value) == 8 else ""
            if shifted:
                self.dates[shifted] = value

    def add_all(self, datasets: Iterable[Dataset], key: str) -> UidMap:
        """`add` every dataset; return self."""
        for ds in datasets:
            self.add(ds, key)
        return self

    def original(self, value: str) -> str:
        """The original of a pseudonymous UID (or name); other values unchanged."""
        return self.uids.get(value, self.names.get(value, value))

    def restore_text(self, text: str) -> str:
        """`text` with every known pseudonym replaced by its original."""
        text = _PSEUDO_UID.sub(lambda m: self.uids.get(m.group(0), m.group(0)), text)
        text = _PSEUDO_NAME.sub(lambda m: self.names.get(m.group(0), m.group(0)), text)
        return _DATE.sub(self._real_date, text)

    def _real_date(self, match: re.Match[str]) -> str:
        """A shifted header date back to the real one, in the form it was written."""
        original = self.dates.get("".join(match.groups()))
        if original is None:
            return match.group(0)
        if "-" in match.group(0):
            return f"{original[:4]}-{original[4:6]}-{original[6:]}"
        return original

    def pseudonyms(self) -> set[str]:
        """Every pseudonym the map knows (what must never appear in exported objects)."""
        return set(self.uids) | set(self.names)


def _strings(ds: Dataset) -> list[str]:
    out: list[str] = []
    for elem in ds.iterall():
        if elem.VR == "SQ" or elem.value is None:
            continue
        if elem.VR in ("OB", "OW", "OF", "OD", "OL", "OV", "UN"):
            continue
        values = elem.value if isinstance(elem.value, list | tuple) else [elem.value]
        out += [str(v) for v in values]
    return out


def find_pseudonyms(ds: Dataset, uid_map: UidMap) -> list[str]:
    """The pseudonyms of `uid_map` found anywhere in `ds` (an exported object must have none)."""
    known = uid_map.pseudonyms()
    found: list[str] = []
    for text in _strings(ds):
        found += [p for p in known if p in text]
    return sorted(set(found))
