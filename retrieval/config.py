"""Typed retrieval configuration, read from ``configs/retrieval.yaml``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from retrieval.index import IndexParams
from retrieval.types import IndexKind, SearchMode
from tools.settings import Strict, config_dir, read_settings

__all__ = ["EmbedderSpec", "RetrievalConfig", "load_retrieval_config"]


class EmbedderSpec(Strict):
    """Which text embedder to use.

    The packaged MiniLM, a local sentence-transformers folder, or the weightless hashing
    embedder (tests and smoke runs only).
    """

    kind: Literal["minilm", "path", "hashing"] = "minilm"
    path: str | None = None
    name: str | None = None
    device: str = "cpu"
    batch_size: int = Field(default=64, ge=1)
    dim: int = Field(default=64, ge=8, description="Dimension of the hashing embedder only.")

    @model_validator(mode="after")
    def _path_needed(self) -> EmbedderSpec:
        if self.kind == "path" and not self.path:
            raise ValueError("embedder kind 'path' needs embedder.path (a local model folder)")
        return self


class ImageEmbedderSpec(Strict):
    """Image encoder for similar-case search: a local CLIP-style transformers folder."""

    kind: Literal["clip"] = "clip"
    path: str
    name: str | None = None
    device: str = "cpu"
    batch_size: int = Field(default=16, ge=1)


class IndexSettings(Strict):
    """FAISS index choice; `auto` picks flat / HNSW / IVF-PQ by collection size."""

    kind: IndexKind = IndexKind.AUTO
    flat_max: int = Field(default=50_000, ge=0)
    hnsw_max: int = Field(default=2_000_000, ge=0)
    hnsw_m: int = Field(default=32, ge=4)
    hnsw_ef_construction: int = Field(default=80, ge=8)
    hnsw_ef_search: int = Field(default=64, ge=8)
    ivf_nlist: int | None = Field(default=None, ge=1)
    ivf_nprobe: int = Field(default=32, ge=1)
    pq_m: int | None = Field(default=None, ge=1)
    pq_bits: int = Field(default=8, ge=4, le=12)
    pq_refine: int = Field(default=10, ge=0, le=100)
    use_gpu: bool = True

    def params(self) -> IndexParams:
        """As the index module's parameters."""
        return IndexParams(**self.model_dump())


class SearchSettings(Strict):
    """Ranking defaults."""

    mode: SearchMode = "hybrid"
    k: int = Field(default=5, ge=1, le=50)
    candidates: int = Field(default=50, ge=1)
    rrf_k: int = Field(default=60, ge=1)
    dense_min_score: float = Field(
        default=0.2, ge=-1.0, le=1.0, description="Cosine below which a dense hit is not a match."
    )


class RetrievalConfig(Strict):
    """The whole retrieval configuration."""

    embedder: EmbedderSpec = EmbedderSpec()
    image_embedder: ImageEmbedderSpec | None = None
    index: IndexSettings = IndexSettings()
    search: SearchSettings = SearchSettings()
    max_words: int = Field(default=200, ge=8, description="Longest chunk, in words.")


def load_retrieval_config(path: Path | None = None) -> RetrievalConfig:
    """Read and validate the retrieval YAML (default ``configs/retrieval.yaml``)."""
    path = path or config_dir() / "retrieval.yaml"
    if not path.exists():
        return RetrievalConfig()
    return read_settings(path, RetrievalConfig, "retrieval configuration")
