"""The image-class classifier on generated images, and the DICOM header rules."""

from __future__ import annotations

import numpy as np
import pytest

from tests.tools.segmentation import synthetic
from tools.attachments import ImageClass
from tools.imaging.classify import classify, decide, features, from_header

C = ImageClass


def _sky() -> np.ndarray:
    """A landscape-like photo: blue sky over green grass (no medical pattern)."""
    img = np.zeros((120, 160, 3), np.uint8)
    img[:60] = (110, 160, 230)
    img[60:] = (60, 150, 50)
    return img


@pytest.mark.parametrize(
    ("pixels", "expected"),
    [
        (synthetic.chest_xray()[0], C.RADIOGRAPH),
        (synthetic.he_tile(synthetic.nuclei_mask()), C.STAINED_TISSUE),
        (synthetic.fluorescence(synthetic.nuclei_mask(radius=12)), C.FLUORESCENCE),
        (synthetic.fundus()[0], C.FUNDUS),
        (_sky(), C.OTHER),
    ],
    ids=["radiograph", "he", "fluorescence", "fundus", "photo"],
)
def test_pixel_classes(pixels: np.ndarray, expected: ImageClass) -> None:
    decision = decide(pixels)
    assert decision.image_class == expected
    assert decision.by == "classifier"
    assert decision.reason


def test_grayscale_asymmetric_image_is_not_a_radiograph() -> None:
    chest = synthetic.chest_xray()[0]
    half = chest.copy()
    half[:, : chest.shape[1] // 2] = 128  # one side only: no longer a frontal projection
    assert classify(chest) == C.RADIOGRAPH
    assert classify(half) == C.OTHER


def test_16_bit_and_single_channel_inputs_are_rescaled() -> None:
    chest = synthetic.chest_xray()[0].astype(np.uint16) * 200
    assert classify(chest) == C.RADIOGRAPH
    assert classify(chest[..., None]) == C.RADIOGRAPH


def test_colour_fundus_needs_red_inside_the_round_field() -> None:
    img, _ = synthetic.fundus()
    blue = img[..., ::-1].copy()  # same black corners, but a blue disc
    assert classify(img) == C.FUNDUS
    assert classify(blue) != C.FUNDUS
    assert features(img).corner < 0.1 < features(img).inside


@pytest.mark.parametrize(
    ("modality", "expected"),
    [
        ("CR", C.RADIOGRAPH),
        ("dx", C.RADIOGRAPH),
        ("MG", C.RADIOGRAPH),
        ("CT", C.CROSS_SECTION),
        ("MR", C.CROSS_SECTION),
        ("SM", C.STAINED_TISSUE),
        ("OP", C.FUNDUS),
        ("US", C.OTHER),
    ],
)
def test_header_decides(modality: str, expected: ImageClass) -> None:
    # Pixels that look like H&E do not override what the header says.
    he = synthetic.he_tile(synthetic.nuclei_mask())
    decision = decide(he, modality=modality, body_part="CHEST")
    assert (decision.image_class, decision.by) == (expected, "header")
    assert from_header(modality) == expected


@pytest.mark.parametrize("modality", [None, "", "OT", "SC", "XC"])
def test_captures_fall_back_to_pixels(modality: str | None) -> None:
    assert from_header(modality) is None
    he = synthetic.he_tile(synthetic.nuclei_mask())
    assert decide(he, modality=modality).by == "classifier"
    assert classify(he, modality=modality) == C.STAINED_TISSUE


def test_bad_pixel_arrays_are_refused() -> None:
    with pytest.raises(ValueError, match="shape"):
        classify(np.zeros(10, np.uint8))
    assert decide(None).image_class == C.OTHER
