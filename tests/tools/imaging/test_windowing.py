"""Window/level maths: DICOM linear function, presets, lookup table path, CT RGB."""

from __future__ import annotations

import numpy as np
import pytest

from tools.imaging.windowing import (
    CT_PRESETS,
    WINDOW_PRESETS,
    Window,
    apply_window,
    ct_rgb,
    preset_window,
)


def test_linear_window_end_points() -> None:
    w = Window(40.0, 400.0, "abdomen")
    values = np.array([-1000.0, -160.5, 40.0, 239.5, 3000.0])
    out = apply_window(values, w)
    assert out.tolist()[0] == 0 and out.tolist()[-1] == 255
    assert out[1] == 0 and out[3] == 255
    assert 126 <= out[2] <= 128


def test_lookup_table_matches_float_path() -> None:
    rng = np.random.default_rng(1)
    values = rng.integers(-1024, 3000, size=(100, 100)).astype(np.int16)
    for window in CT_PRESETS.values():
        fast = apply_window(values, window)
        slow = apply_window(values.astype(np.float64), window)
        np.testing.assert_array_equal(fast, slow)
        np.testing.assert_array_equal(apply_window(values, window, invert=True), 255 - slow)


def test_presets_are_the_documented_ones() -> None:
    assert set(WINDOW_PRESETS) == {
        "auto",
        "lung",
        "mediastinum",
        "bone",
        "brain",
        "abdomen",
        "full",
    }
    assert (CT_PRESETS["lung"].center, CT_PRESETS["lung"].width) == (-600, 1500)
    assert (CT_PRESETS["brain"].center, CT_PRESETS["brain"].width) == (40, 80)


def test_auto_prefers_the_file_window_then_percentiles() -> None:
    values = np.arange(1000, dtype=np.float32).reshape(10, 100)
    header = Window(10.0, 20.0, "from the file")
    assert preset_window("auto", values, header) is header
    auto = preset_window("auto", values, None)
    assert auto.center == pytest.approx(499.5) and 980 < auto.width < 1000
    full = preset_window("full", values, header)
    assert (full.center, full.width) == (499.5, 999.0)


def test_ct_rgb_channels_follow_medgemma_windows() -> None:
    hu = np.array([[-1024, 0, 135, 175, 215, 1024, 40]], np.int16)
    rgb = ct_rgb(hu)
    assert rgb.shape == (1, 7, 3)
    red, green, blue = rgb[0, :, 0], rgb[0, :, 1], rgb[0, :, 2]
    assert red[0] == 0 and red[5] == 255 and 120 < red[1] < 135
    assert green[1] == 0 and green[2] == 0 and green[4] == 255 and 120 < green[3] < 135
    assert blue[1] == 0 and 120 < blue[6] < 135 and blue[5] == 255


def test_preset_choices_for_the_ui() -> None:
    from tools.imaging.windowing import preset_choices

    choices = preset_choices()
    assert [value for _, value in choices] == list(WINDOW_PRESETS)
    assert ("Lung (C -600 / W 1500 HU)", "lung") in choices
