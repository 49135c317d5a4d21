"""Header strings read for display pass only as defined terms: a header can hold any text."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

from tests.tools.imaging.factory import ct_phantom, make_dataset, write
from tools.imaging.dicom_meta import lut_explanation
from tools.imaging.loader import load_file

NAME = "QUIXOTE DULCINEA"


def _with_lut(ds: Dataset, explanation: str) -> Dataset:
    item = Dataset()
    item.LUTDescriptor = [4096, 0, 12]
    item.LUTData = np.arange(4096, dtype="<u2").tobytes()
    item.LUTExplanation = explanation
    ds.VOILUTSequence = Sequence([item])
    return ds


def _load(tmp_path: Path, **header: str) -> str:
    ds = make_dataset(ct_phantom())
    _with_lut(ds, header.pop("LUTExplanation"))
    for key, value in header.items():
        setattr(ds, key, value)
    image = load_file(write(ds, tmp_path / "x.dcm", ExplicitVRLittleEndian), deid_key="k" * 20)
    fields = {k: v for k, v in asdict(image).items() if k != "pixels"}
    return repr(fields)


def test_free_text_in_display_attributes_never_leaves_the_loader(tmp_path: Path) -> None:
    seen = _load(
        tmp_path,
        LUTExplanation=f"{NAME} 19610412",
        RescaleType=NAME[:16],
        Modality="DULCINEA",
        PhotometricInterpretation="MONOCHROME2",
    )
    assert "QUIXOTE" not in seen and "DULCINEA" not in seen and "19610412" not in seen


def test_defined_terms_are_kept(tmp_path: Path) -> None:
    seen = _load(tmp_path, LUTExplanation="SOFT TISSUE", RescaleType="HU", Modality="CT")
    assert "VOI LUT from the file (SOFT TISSUE)" in seen
    assert "'units': 'HU'" in seen and "'modality': 'CT'" in seen


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("NORMAL", "NORMAL"),
        ("Lung window", "Lung window"),
        ("soft-tissue", "soft-tissue"),
        ("Dr Smith's LUT", ""),
        ("SOFT TISSUE 2024", ""),
        ("", ""),
        (None, ""),
    ],
)
def test_lut_explanation_is_made_of_window_words(text: str | None, kept: str) -> None:
    assert lut_explanation(text) == kept
