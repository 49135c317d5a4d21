"""Image encoders for similar-case search, and the factories that build embedders.

`CLIPImageEmbedder` loads any CLIP-style transformers folder (``get_image_features``),
e.g. a BiomedCLIP or MedImageInsight export, from a local path on first use. Images are
decoded by the imaging tools' loader, so DICOM and PNG work alike.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from retrieval.config import EmbedderSpec, ImageEmbedderSpec
from retrieval.embeddings import (
    Embedder,
    HashingEmbedder,
    ImageEmbedder,
    SentenceTransformerEmbedder,
    normalize,
)
from tools.errors import ConfigError

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["CLIPImageEmbedder", "make_embedder", "make_image_embedder"]


def _rgb(path: Path) -> Any:
    from PIL import Image

    from tools.imaging.reader import load_image

    pixels = np.asarray(load_image(path).pixels)
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        pixels = pixels[..., :3]
    if pixels.dtype != np.uint8:
        lo, hi = float(pixels.min()), float(pixels.max())
        pixels = ((pixels - lo) / max(hi - lo, 1e-9) * 255).astype(np.uint8)
    return Image.fromarray(pixels).convert("RGB")


class CLIPImageEmbedder:
    """A CLIP-style image tower from a local transformers folder, loaded on first use."""

    def __init__(
        self, path: Path, *, name: str | None = None, device: str = "cpu", batch_size: int = 16
    ) -> None:
        self.path = path
        self._name = name or path.name
        self.device = device
        self.batch_size = batch_size
        self._model: Any = None
        self._processor: Any = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """Model name (the folder name unless given)."""
        return self._name

    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._model is None:
                if not (self.path / "config.json").is_file():
                    raise ConfigError(
                        f"image encoder folder {self.path} has no config.json; point "
                        "image_embedder.path at a CLIP-style transformers model folder"
                    )
                from transformers import AutoImageProcessor, AutoModel

                # Typed as Any: whether transformers annotates this classmethod
                # differs between releases, and the call is the same either way.
                processor_cls: Any = AutoImageProcessor
                self._processor = processor_cls.from_pretrained(
                    str(self.path), local_files_only=True
                )
                model = AutoModel.from_pretrained(str(self.path), local_files_only=True)
                self._model = model.to(self.device).eval()
            return self._model, self._processor

    @property
    def dim(self) -> int:
        """Projection dimension of the image features."""
        model, _ = self._load()
        return int(model.config.projection_dim)

    def embed_images(self, paths: Sequence[Path]) -> NDArray[np.float32]:
        """Normalised image features, one row per path."""
        import torch

        model, processor = self._load()
        rows: list[NDArray[np.float32]] = []
        for start in range(0, len(paths), self.batch_size):
            images = [_rgb(p) for p in paths[start : start + self.batch_size]]
            inputs = processor(images=images, return_tensors="pt").to(self.device)
            with torch.no_grad():
                features = model.get_image_features(**inputs)
            if not isinstance(features, torch.Tensor):
                features = features.pooler_output
            rows.append(features.float().cpu().numpy())
        if not rows:
            return np.zeros((0, self.dim), dtype=np.float32)
        return normalize(np.concatenate(rows))


def make_embedder(spec: EmbedderSpec) -> Embedder:
    """Build the text embedder `spec` describes (nothing is loaded until first use)."""
    if spec.kind == "hashing":
        return HashingEmbedder(spec.dim)
    path = Path(spec.path) if spec.kind == "path" and spec.path else None
    return SentenceTransformerEmbedder(
        path, name=spec.name, device=spec.device, batch_size=spec.batch_size
    )


def make_image_embedder(spec: ImageEmbedderSpec | None) -> ImageEmbedder | None:
    """Build the image embedder `spec` describes, or None when none is configured."""
    if spec is None:
        return None
    return CLIPImageEmbedder(
        Path(spec.path), name=spec.name, device=spec.device, batch_size=spec.batch_size
    )
