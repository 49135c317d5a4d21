"""FAISS index wrapper: exact, HNSW or IVF-PQ by size or config, with atomic persistence.

Vectors are L2-normalised, so inner product is cosine similarity. Ids are the int64
row ids of the SQLite store. Saving writes a temporary file, fsyncs it and renames it
over the target, so a crash leaves either the old or the new index, never half of one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import faiss as _faiss
import numpy as np

from retrieval.types import IndexKind
from tools.errors import ConfigError, ToolError

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["IndexParams", "VectorIndex", "atomic_write_bytes", "choose_kind"]

log = logging.getLogger(__name__)
faiss: Any = _faiss  # its bundled stubs lack SearchParameters*, id_map, downcast_index…


@dataclass(frozen=True)
class IndexParams:
    """Knobs of the index families; `kind=auto` picks by collection size."""

    kind: IndexKind = IndexKind.AUTO
    flat_max: int = 50_000
    """Up to this many vectors `auto` uses exact search."""
    hnsw_max: int = 2_000_000
    """Up to this many vectors `auto` uses HNSW, beyond it IVF-PQ."""
    hnsw_m: int = 32
    hnsw_ef_construction: int = 80
    hnsw_ef_search: int = 64
    ivf_nlist: int | None = None
    """Inverted lists; None: about sqrt(n) of the training set."""
    ivf_nprobe: int = 32
    pq_m: int | None = None
    """Sub-quantizers; None: dim/2 (must divide dim)."""
    pq_bits: int = 8
    pq_refine: int = 10
    """If > 0, keep the raw vectors too and re-rank pq_refine·k PQ candidates exactly."""
    use_gpu: bool = True
    """Move flat and IVF indexes to the GPU when faiss-gpu sees one."""


def choose_kind(n_vectors: int, params: IndexParams) -> IndexKind:
    """Pick the index family for a collection of `n_vectors` under `params`."""
    if params.kind != IndexKind.AUTO:
        return params.kind
    if n_vectors <= params.flat_max:
        return IndexKind.FLAT
    return IndexKind.HNSW if n_vectors <= params.hnsw_max else IndexKind.IVFPQ


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` via temp file + fsync + rename (+ fsync of the folder)."""
    _atomic_write(path, lambda tmp: tmp.write_bytes(data))


def _atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Let `write` fill a private temporary file, then fsync it and rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        with tmp.open("rb+") as fh:
            os.fsync(fh.fileno())
        tmp.replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _pq_m(dim: int, wanted: int | None) -> int:
    m = wanted or max(1, dim // 2)
    while dim % m:
        m -= 1
    return m


class VectorIndex:
    """A FAISS index with int64 ids; build, add, search, save, load."""

    def __init__(
        self, index: Any, kind: IndexKind, params: IndexParams, *, mapped_from: Path | None = None
    ) -> None:
        self._index = index
        self.kind = kind
        self.params = params
        self._gpu: Any = None
        self.mapped_from = mapped_from
        """The file this index is memory-mapped from (read-only), or None (in memory)."""

    @classmethod
    def create(
        cls, dim: int, params: IndexParams, training: NDArray[np.float32] | None = None
    ) -> VectorIndex:
        """Create an empty index for `dim`-d vectors; IVF-PQ is trained on `training`."""
        n = 0 if training is None else len(training)
        kind = choose_kind(n, params)
        metric = faiss.METRIC_INNER_PRODUCT
        if kind == IndexKind.FLAT:
            inner: Any = faiss.IndexFlatIP(dim)
        elif kind == IndexKind.HNSW:
            inner = faiss.IndexHNSWFlat(dim, params.hnsw_m, metric)
            inner.hnsw.efConstruction = params.hnsw_ef_construction
            inner.hnsw.efSearch = params.hnsw_ef_search
        else:
            nlist = params.ivf_nlist or max(1, int(np.sqrt(max(n, 1))))
            min_train = max(nlist, 2**params.pq_bits) * 39
            if training is None or n < min_train:
                raise ConfigError(
                    f"an IVF-PQ index with nlist={nlist} needs at least {min_train} training "
                    f"vectors, got {n}; use index kind 'flat' or 'hnsw' for small collections"
                )
            quantizer = faiss.IndexFlatIP(dim)
            ivf = faiss.IndexIVFPQ(
                quantizer, dim, nlist, _pq_m(dim, params.pq_m), params.pq_bits, metric
            )
            ivf.nprobe = params.ivf_nprobe
            inner = ivf
            if params.pq_refine > 0:
                inner = faiss.IndexRefineFlat(ivf)
                inner.k_factor = params.pq_refine
            # k-means needs no more than ~256 points per centroid; more only costs time.
            limit = max(nlist, 2**params.pq_bits) * 256
            step = max(1, n // limit)
            inner.train(np.ascontiguousarray(training[::step][:limit], dtype=np.float32))
        # IndexIDMap, not IDMap2: IDMap2 rebuilds an id -> row hash map (~44 B/vector) in
        # every process that opens the file, which memory-mapping cannot share.
        return cls(faiss.IndexIDMap(inner), kind, params)

    @property
    def dim(self) -> int:
        """Vector dimension."""
        return int(self._index.d)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, vectors: NDArray[np.float32], ids: NDArray[np.int64]) -> None:
        """Add vectors under the given ids (incremental; no rebuild)."""
        if self.mapped_from is not None:  # FAISS aborts the process on a write to a mapping
            raise ToolError(
                f"the vector index {self.mapped_from.name} is opened read-only (memory-mapped); "
                "load a writable copy to add vectors"
            )
        if vectors.shape[0] != ids.shape[0]:
            raise ValueError(f"{vectors.shape[0]} vectors but {ids.shape[0]} ids")
        if vectors.shape[0] and vectors.shape[1] != self.dim:
            raise ToolError(
                f"vectors have dimension {vectors.shape[1]} but the index holds {self.dim}-d "
                "vectors; was the knowledge base built with another embedding model?"
            )
        self._index.add_with_ids(
            np.ascontiguousarray(vectors, dtype=np.float32), np.ascontiguousarray(ids, np.int64)
        )
        self._gpu = None

    def tune(
        self, *, ef_search: int | None = None, nprobe: int | None = None, refine: int | None = None
    ) -> None:
        """Change search-time knobs (HNSW efSearch, IVF nprobe, re-rank factor) in place."""
        from dataclasses import replace

        inner = faiss.downcast_index(self._index.index)
        if isinstance(inner, faiss.IndexRefineFlat):
            if refine is not None:
                inner.k_factor = max(1, refine)
            inner = faiss.downcast_index(inner.base_index)
        if ef_search is not None and isinstance(inner, faiss.IndexHNSWFlat):
            inner.hnsw.efSearch = ef_search
        if nprobe is not None and isinstance(inner, faiss.IndexIVFPQ):
            inner.nprobe = nprobe
        self.params = replace(
            self.params,
            hnsw_ef_search=ef_search or self.params.hnsw_ef_search,
            ivf_nprobe=nprobe or self.params.ivf_nprobe,
            pq_refine=self.params.pq_refine if refine is None else refine,
        )
        self._gpu = None

    @property
    def pq_m(self) -> int | None:
        """Sub-quantizers of an IVF-PQ index (None for other kinds)."""
        inner = faiss.downcast_index(self._index.index)
        if isinstance(inner, faiss.IndexRefineFlat):
            inner = faiss.downcast_index(inner.base_index)
        return int(inner.pq.M) if isinstance(inner, faiss.IndexIVFPQ) else None

    def _searcher(self) -> Any:
        if self.params.use_gpu and self.kind != IndexKind.HNSW and _gpus() > 0:
            if self._gpu is None:
                self._gpu = faiss.index_cpu_to_all_gpus(self._index)
                log.info("%s index of %d vectors on %d GPU(s)", self.kind, len(self), _gpus())
            return self._gpu
        return self._index

    def search(
        self, queries: NDArray[np.float32], k: int, allowed: NDArray[np.int64] | None = None
    ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        """Top-`k` (scores, ids) per query, only among `allowed` ids if given; -1 pads."""
        if len(self) == 0 or k <= 0:
            n = queries.shape[0]
            return np.zeros((n, max(k, 0)), np.float32), np.full((n, max(k, 0)), -1, np.int64)
        x = np.ascontiguousarray(queries, dtype=np.float32)
        k = min(k, len(self))
        if allowed is None:
            scores, ids = self._searcher().search(x, k)
        else:  # selectors run on the CPU index
            selector = faiss.IDSelectorBatch(np.ascontiguousarray(allowed, dtype=np.int64))
            scores, ids = self._index.search(x, k, params=self._search_params(selector))
        return scores.astype(np.float32), ids.astype(np.int64)

    def _search_params(self, selector: Any) -> Any:
        if self.kind == IndexKind.HNSW:
            return faiss.SearchParametersHNSW(sel=selector, efSearch=self.params.hnsw_ef_search)
        if self.kind == IndexKind.IVFPQ:
            ivf = faiss.SearchParametersIVF(sel=selector, nprobe=self.params.ivf_nprobe)
            if self.params.pq_refine > 0:
                return faiss.IndexRefineSearchParameters(
                    k_factor=self.params.pq_refine, base_index_params=ivf, sel=selector
                )
            return ivf
        return faiss.SearchParameters(sel=selector)

    def contents(self) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        """All stored vectors and their ids (exact indexes only; used to re-index)."""
        if self.kind != IndexKind.FLAT:
            raise ValueError(f"cannot read vectors back from a {self.kind} index")
        ids = faiss.vector_to_array(self._index.id_map).astype(np.int64)
        inner = faiss.downcast_index(self._index.index)
        vectors = inner.reconstruct_n(0, len(self)) if len(self) else np.zeros((0, self.dim))
        return np.asarray(vectors, dtype=np.float32), ids

    def to_bytes(self) -> bytes:
        """Serialise the index."""
        return bytes(faiss.serialize_index(self._index).tobytes())

    def save(self, path: Path) -> None:
        """Persist atomically to `path`, streamed to disk (no second copy in memory)."""
        _atomic_write(path, lambda tmp: faiss.write_index(self._index, str(tmp)))

    @classmethod
    def load(cls, path: Path, params: IndexParams, *, mmap: bool = False) -> VectorIndex:
        """Reopen an index written by `save`.

        `mmap`: map the file read-only instead of reading it into memory. The vectors (and
        IVF lists) then stay in the page cache, shared by every process that maps the same
        file, and are paged in as searches touch them. Such an index cannot be added to.
        """
        try:
            if mmap:
                index = faiss.read_index(str(path), MMAP_FLAGS)
            else:
                index = faiss.deserialize_index(np.fromfile(path, dtype=np.uint8))
        except (OSError, RuntimeError) as exc:
            raise ToolError(f"cannot read the vector index {path}: {exc}") from exc
        inner = faiss.downcast_index(index.index)
        if isinstance(inner, faiss.IndexRefineFlat):
            inner.k_factor = params.pq_refine or inner.k_factor
            inner = faiss.downcast_index(inner.base_index)
        if isinstance(inner, faiss.IndexHNSWFlat):
            inner.hnsw.efSearch = params.hnsw_ef_search
            kind = IndexKind.HNSW
        elif isinstance(inner, faiss.IndexIVFPQ):
            inner.nprobe = params.ivf_nprobe
            kind = IndexKind.IVFPQ
        else:
            kind = IndexKind.FLAT
        return cls(index, kind, params, mapped_from=path if mmap else None)

    @property
    def device(self) -> str:
        """Where searches run: "GPU (n)" when faiss-gpu sees GPUs and the kind moves, else "CPU"."""
        if self.params.use_gpu and self.kind != IndexKind.HNSW and _gpus() > 0:
            return f"GPU ({_gpus()})"
        return "CPU"


MMAP_FLAGS = int(faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY)
"""Map the index file read-only: with faiss 1.15 the vectors (flat, HNSW, IVF-PQ's re-rank
copy), HNSW's graph and the IVF-PQ codes all stay in the shared page cache; what each process
holds privately is the id map (8 B/vector) and small tables (BENCHMARKS.md, "heap B/vector
mmap'd"). faiss refuses IO_FLAG_MMAP (the older on-disk IVF lists) together with it."""


def _gpus() -> int:
    get = getattr(faiss, "get_num_gpus", None)
    return int(get()) if get is not None else 0
