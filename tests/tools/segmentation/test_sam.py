"""The SAM backend with a tiny randomly initialised model of the real architecture."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from transformers import SamConfig, SamModel

from tools.errors import ToolArgumentError, ToolError
from tools.segmentation.backends import get_segmenter, sam_segmenter
from tools.segmentation.config import SamSettings, SegmentationConfig
from tools.segmentation.sam import SamSegmenter, prepare
from tools.segmentation.types import Prompts, SegInput, Target

SIZE = 64


def tiny_sam() -> SamModel:
    """A SAM with 32-wide layers and a 64-px input: seconds to build, same code paths."""
    torch.manual_seed(0)
    config = SamConfig(
        vision_config={"hidden_size": 32, "output_channels": 32, "num_hidden_layers": 2,
                       "num_attention_heads": 2, "image_size": SIZE, "patch_size": 16,
                       "global_attn_indexes": [1], "window_size": 2, "mlp_dim": 64,
                       "num_pos_feats": 16},
        prompt_encoder_config={"hidden_size": 32, "image_size": SIZE, "patch_size": 16,
                               "mask_input_channels": 4},
        mask_decoder_config={"hidden_size": 32, "mlp_dim": 64, "num_attention_heads": 2,
                             "iou_head_hidden_dim": 32},
    )  # fmt: skip
    return SamModel(config)


@pytest.fixture(scope="module")
def model() -> SamModel:
    return tiny_sam()


def _spy(model: SamModel) -> tuple[dict[str, Any], Any]:
    seen: dict[str, Any] = {}

    def hook(_module: Any, _args: Any, kwargs: dict[str, Any]) -> None:
        seen.update(kwargs)

    return seen, model.register_forward_pre_hook(hook, with_kwargs=True)


def test_prepare_resizes_normalises_and_pads() -> None:
    img = np.zeros((100, 200), np.uint8)
    inputs = prepare(img, SIZE, "imagenet")
    assert inputs.pixel_values.shape == (1, 3, SIZE, SIZE)
    assert inputs.scale == pytest.approx(0.32)
    assert inputs.resized_shape == (32, 64)
    assert inputs.pixel_values[0, 0, 0, 0] == pytest.approx(-0.485 / 0.229, rel=1e-4)
    assert np.all(inputs.pixel_values[:, :, 32:, :] == 0)  # padding below the image
    small = prepare(np.zeros((16, 8), np.uint8), SIZE, "minmax")
    assert small.scale == pytest.approx(4.0) and small.resized_shape == (64, 32)


def test_points_and_box_reach_the_model_in_model_pixels(model: SamModel) -> None:
    seg = SamSegmenter(model)
    seen, handle = _spy(model)
    img = np.zeros((100, 200), np.uint8)
    img[20:60, 50:120] = 220
    try:
        prompts = Prompts(points=((100, 40),), background_points=((10, 90),), box=(40, 10, 130, 70))
        out = seg.segment(SegInput(img), Target.PROMPTED, prompts)
    finally:
        handle.remove()
    assert out.labels.shape == (100, 200) and out.labels.dtype == np.int32
    assert set(np.unique(out.labels)) <= {0, 1}
    assert seen["input_points"].shape == (1, 1, 2, 2)
    np.testing.assert_allclose(seen["input_points"][0, 0], [[32.0, 12.8], [3.2, 28.8]], rtol=1e-5)
    assert seen["input_labels"].tolist() == [[[1, 0]]]
    np.testing.assert_allclose(seen["input_boxes"], [[[12.8, 3.2, 41.6, 22.4]]], rtol=1e-5)
    assert seen["pixel_values"].shape == (1, 3, SIZE, SIZE)
    assert out.method.startswith("SAM") and "predicted IoU" in out.notes[0]


def test_box_only_prompt_has_no_points(model: SamModel) -> None:
    seen, handle = _spy(model)
    try:
        SamSegmenter(model).segment(
            SegInput(np.zeros((30, 30), np.uint8)), Target.PROMPTED, Prompts(box=(0, 0, 30, 30))
        )
    finally:
        handle.remove()
    assert "input_points" not in seen and seen["input_boxes"].shape == (1, 1, 4)


def test_bad_prompts_rejected(model: SamModel) -> None:
    seg = SamSegmenter(model)
    img = SegInput(np.zeros((30, 40), np.uint8))
    with pytest.raises(ToolArgumentError, match="needs points"):
        seg.segment(img, Target.PROMPTED, Prompts())
    with pytest.raises(ToolArgumentError, match=r"point \[40, 3\] is outside"):
        seg.segment(img, Target.PROMPTED, Prompts(points=((40, 3),)))
    with pytest.raises(ToolArgumentError, match="is empty"):
        seg.segment(img, Target.PROMPTED, Prompts(box=(10, 10, 5, 20)))


def test_loads_lazily_from_local_folder(model: SamModel, tmp_path: Path) -> None:
    model.save_pretrained(tmp_path / "sam")
    settings = SamSettings(path=tmp_path / "sam")
    loaded = sam_segmenter(settings)
    assert isinstance(loaded, SamSegmenter) and loaded.size == SIZE
    assert sam_segmenter(settings) is loaded  # cached per process
    assert get_segmenter(Target.PROMPTED, "sam", SegmentationConfig(sam=settings)) is loaded
    with pytest.raises(ToolError, match=r"no config\.json"):
        SamSegmenter.from_path(tmp_path)


def test_backend_errors_name_the_fix() -> None:
    with pytest.raises(ToolError, match=r"set sam\.path in configs/segmentation\.yaml"):
        get_segmenter(Target.PROMPTED, "sam", SegmentationConfig())
    with pytest.raises(
        ToolArgumentError, match=r"only segments target 'prompted'.*use backend 'classical'"
    ):
        get_segmenter(Target.LUNG_FIELDS, "sam", SegmentationConfig())
