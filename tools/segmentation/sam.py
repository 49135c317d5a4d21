"""SAM / MedSAM backend through transformers' `SamModel`, loaded lazily from a local folder.

The checkpoint folder is declared in ``configs/segmentation.yaml`` (``sam.path``); nothing
is downloaded at run time. Works with ``facebook/sam-vit-base``-style folders and with
MedSAM converted to the transformers format (``wanglab/medsam-vit-base``; MedSAM was
trained with box prompts, so give it a box). Pre-processing is done here (resize of the
longer side to the model's input size, normalisation, zero padding) so no processor or
torchvision is needed. On CPU a ViT-B image encoder takes seconds per image; use
``device: cuda`` on a GPU machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tools.errors import ToolArgumentError, ToolError
from tools.segmentation.interactive import check_prompts, clip_box, keep_prompted
from tools.segmentation.preprocess import resize_to, to_rgb8
from tools.segmentation.types import Prompts, SegInput, Segmentation, Target

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class SamInputs:
    """Model-ready arrays plus the scale that maps image pixels to model pixels."""

    pixel_values: NDArray[np.float32]
    scale: float
    resized_shape: tuple[int, int]


def prepare(pixels: NDArray[np.generic], size: int, normalize: str) -> SamInputs:
    """Resize the longer side to `size`, normalise and zero-pad to size×size (CHW, batch 1)."""
    rgb, scale = resize_to(to_rgb8(pixels), size)
    h, w = rgb.shape[:2]
    if max(h, w) < size:  # small images are enlarged, as SAM's processor does
        import cv2

        scale = size / max(h, w)
        w, h = max(1, round(w * scale)), max(1, round(h * scale))
        rgb = cv2.resize(np.asarray(rgb), (w, h), interpolation=cv2.INTER_LINEAR)
    x: NDArray[np.float32] = np.asarray(rgb, np.float32) / np.float32(255.0)
    if normalize == "minmax":
        x = ((x - x.min()) / max(float(np.ptp(x)), 1e-6)).astype(np.float32)
    else:
        mean, std = np.array(IMAGENET_MEAN, np.float32), np.array(IMAGENET_STD, np.float32)
        x = np.asarray((x - mean) / std, np.float32)
    padded = np.zeros((size, size, 3), np.float32)
    padded[:h, :w] = x
    return SamInputs(padded.transpose(2, 0, 1)[None], scale, (h, w))


class SamSegmenter:
    """Point/box-prompted segmentation with a SAM-architecture model."""

    name = "sam"
    targets = frozenset({Target.PROMPTED})

    def __init__(self, model: Any, device: str = "cpu", normalize: str = "imagenet") -> None:
        self.model = model.to(device).eval()
        self.device = device
        self.normalize = normalize
        self.size = int(model.config.vision_config.image_size)

    @classmethod
    def from_path(
        cls, path: Path, device: str = "cpu", normalize: str = "imagenet"
    ) -> SamSegmenter:
        """Load a transformers SAM checkpoint from a local folder (lazy torch import)."""
        if not (path / "config.json").is_file():
            raise ToolError(
                f"SAM checkpoint folder {path} has no config.json: point sam.path in "
                "configs/segmentation.yaml at a local transformers SAM folder "
                "(e.g. a copy of facebook/sam-vit-base or wanglab/medsam-vit-base)."
            )
        from transformers import SamModel

        return cls(SamModel.from_pretrained(path, local_files_only=True), device, normalize)

    def segment(self, image: SegInput, target: Target, prompts: Prompts) -> Segmentation:
        """Label the prompted object 1 (the mask the model scores highest)."""
        import torch

        if not prompts.points and prompts.box is None:
            raise ToolArgumentError(
                "the sam backend needs points [[x, y], ...] or a box {x, y, width, height}."
            )
        shape = (int(image.pixels.shape[0]), int(image.pixels.shape[1]))
        check_prompts(prompts, shape)
        inputs = prepare(image.pixels, self.size, self.normalize)
        kwargs: dict[str, Any] = {
            "pixel_values": torch.from_numpy(inputs.pixel_values).to(self.device)
        }
        pts = [(x, y, 1) for x, y in prompts.points] + [
            (x, y, 0) for x, y in prompts.background_points
        ]
        if pts:
            coords = torch.tensor(
                [[[[x * inputs.scale, y * inputs.scale] for x, y, _ in pts]]], dtype=torch.float32
            )
            kwargs["input_points"] = coords.to(self.device)
            kwargs["input_labels"] = torch.tensor(
                [[[lab for *_, lab in pts]]], dtype=torch.long
            ).to(self.device)
        if prompts.box is not None:
            box = [v * inputs.scale for v in clip_box(prompts.box, shape)]
            kwargs["input_boxes"] = torch.tensor([[box]], dtype=torch.float32).to(self.device)
        with torch.inference_mode():
            out = self.model(**kwargs, multimask_output=True)
        best = int(out.iou_scores[0, 0].argmax())
        low_res = out.pred_masks[0, 0, best][None, None].float()
        full = torch.nn.functional.interpolate(
            low_res, size=(self.size, self.size), mode="bilinear"
        )
        h, w = inputs.resized_shape
        cropped = full[..., :h, :w]
        logits = torch.nn.functional.interpolate(cropped, size=shape, mode="bilinear")[0, 0]
        mask = (logits > 0).cpu().numpy()
        labels = keep_prompted(mask, prompts) if mask.any() else mask.astype(np.int32)
        score = float(out.iou_scores[0, 0, best])
        notes = [f"model's predicted IoU for this mask: {score:.2f}"]
        return Segmentation(
            labels, {1: "selected object"}, "SAM (transformers SamModel)", notes=notes
        )
