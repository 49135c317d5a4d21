"""Real FAISS indexes on generated vectors: exact results, recall, persistence, crashes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from retrieval.embeddings import normalize
from retrieval.index import IndexParams, VectorIndex, atomic_write_bytes, choose_kind
from retrieval.types import IndexKind
from tools.errors import ConfigError, ToolError


def clustered(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(32, dim))
    return normalize(centres[rng.integers(0, 32, n)] + 0.3 * rng.normal(size=(n, dim)))


def exact_top(data: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-(queries @ data.T), axis=1, kind="stable")[:, :k]


def test_flat_matches_brute_force() -> None:
    data, queries = clustered(500, 16), clustered(20, 16, seed=1)
    index = VectorIndex.create(16, IndexParams(kind=IndexKind.FLAT))
    index.add(data, np.arange(500, dtype=np.int64) + 1000)
    scores, ids = index.search(queries, 5)
    expected = exact_top(data, queries, 5) + 1000
    assert np.array_equal(ids, expected)
    assert np.allclose(scores[:, 0], np.max(queries @ data.T, axis=1), atol=1e-5)


def test_selector_restricts_to_allowed_ids() -> None:
    data = clustered(200, 16)
    allowed = np.array([3, 50, 199], dtype=np.int64)
    for kind in (IndexKind.FLAT, IndexKind.HNSW):
        index = VectorIndex.create(16, IndexParams(kind=kind))
        index.add(data, np.arange(200, dtype=np.int64))
        _, ids = index.search(data[:4], 10, allowed=allowed)
        found = set(ids[ids >= 0].tolist())
        assert found == {3, 50, 199}, kind


def test_hnsw_and_ivfpq_recall_against_exact() -> None:
    data, queries = clustered(2000, 32), clustered(50, 32, seed=2)
    truth = exact_top(data, queries, 10)
    hnsw = VectorIndex.create(32, IndexParams(kind=IndexKind.HNSW, hnsw_ef_search=256))
    hnsw.add(data, np.arange(2000, dtype=np.int64))
    # 32 sub-quantizers of 4 bits over 32 dims: coarse but fast to train on 2 cores.
    params = IndexParams(
        kind=IndexKind.IVFPQ, ivf_nlist=16, ivf_nprobe=16, pq_m=32, pq_bits=4, pq_refine=0
    )
    ivf = VectorIndex.create(32, params, data)
    ivf.add(data, np.arange(2000, dtype=np.int64))
    for index, floor in ((hnsw, 0.95), (ivf, 0.7)):
        _, ids = index.search(queries, 10)
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, truth, strict=True)])
        assert recall >= floor, (index.kind, recall)
    assert (hnsw.kind, ivf.kind) == (IndexKind.HNSW, IndexKind.IVFPQ)


def test_ivfpq_needs_enough_training_vectors() -> None:
    with pytest.raises(ConfigError, match=r"needs at least 2496 training vectors, got 100"):
        VectorIndex.create(
            32, IndexParams(kind=IndexKind.IVFPQ, ivf_nlist=16, pq_bits=6), clustered(100, 32)
        )


def test_choose_kind_by_size() -> None:
    params = IndexParams(flat_max=10, hnsw_max=100)
    assert [choose_kind(n, params) for n in (0, 10, 11, 100, 101)] == [
        IndexKind.FLAT,
        IndexKind.FLAT,
        IndexKind.HNSW,
        IndexKind.HNSW,
        IndexKind.IVFPQ,
    ]
    assert choose_kind(10**9, IndexParams(kind=IndexKind.FLAT)) == IndexKind.FLAT


def test_empty_index_and_dimension_mismatch() -> None:
    index = VectorIndex.create(8, IndexParams())
    _, ids = index.search(np.zeros((2, 8), np.float32), 3)
    assert ids.shape == (2, 3) and (ids == -1).all() and len(index) == 0
    with pytest.raises(ToolError, match="dimension 4 but the index holds 8-d"):
        index.add(np.zeros((1, 4), np.float32), np.array([1], np.int64))


@pytest.mark.parametrize("kind", [IndexKind.FLAT, IndexKind.HNSW])
def test_save_and_reload(tmp_path: Path, kind: IndexKind) -> None:
    data = clustered(300, 16)
    params = IndexParams(kind=kind)
    index = VectorIndex.create(16, params)
    index.add(data, np.arange(300, dtype=np.int64) * 7)
    path = tmp_path / "v.faiss"
    index.save(path)
    again = VectorIndex.load(path, params)
    assert (again.kind, len(again), again.dim) == (kind, 300, 16)
    assert np.array_equal(again.search(data[:5], 3)[1], index.search(data[:5], 3)[1])
    again.add(clustered(10, 16, seed=9), np.arange(10, dtype=np.int64) + 5000)  # incremental
    assert len(again) == 310


def test_flat_contents_round_trip() -> None:
    data = clustered(20, 8)
    index = VectorIndex.create(8, IndexParams(kind=IndexKind.FLAT))
    index.add(data, np.arange(20, dtype=np.int64) + 3)
    vectors, ids = index.contents()
    assert np.allclose(vectors, data) and ids.tolist() == list(range(3, 23))


def test_crash_during_write_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "v.faiss"
    atomic_write_bytes(path, b"old index")

    def dying_fsync(fd: int) -> None:
        raise OSError("disk yanked")

    monkeypatch.setattr(os, "fsync", dying_fsync)
    with pytest.raises(OSError, match="disk yanked"):
        atomic_write_bytes(path, b"new index that never lands")
    assert path.read_bytes() == b"old index"
    assert [p.name for p in tmp_path.iterdir()] == ["v.faiss"]


def test_a_save_that_fails_midway_keeps_the_old_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index is streamed to a private temporary file, never over the committed one."""
    import retrieval.index as module

    path = tmp_path / "v.faiss"
    old = VectorIndex.create(8, IndexParams(kind=IndexKind.FLAT))
    old.add(clustered(5, 8), np.arange(5, dtype=np.int64))
    old.save(path)
    real_write = module.faiss.write_index

    def write_half(index: object, name: str) -> None:
        real_write(index, name)
        with Path(name).open("r+b") as fh:
            fh.truncate(20)
        raise RuntimeError("disk full")

    monkeypatch.setattr(module.faiss, "write_index", write_half)
    bigger = VectorIndex.create(8, IndexParams(kind=IndexKind.FLAT))
    bigger.add(clustered(50, 8), np.arange(50, dtype=np.int64))
    with pytest.raises(RuntimeError, match="disk full"):
        bigger.save(path)
    assert len(VectorIndex.load(path, IndexParams())) == 5
    assert [p.name for p in tmp_path.iterdir()] == ["v.faiss"]


def test_unreadable_index_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.faiss"
    path.write_bytes(b"\x00" * 10)
    with pytest.raises(ToolError, match="cannot read the vector index"):
        VectorIndex.load(path, IndexParams())


def test_ivfpq_refinement_raises_recall_and_survives_reload(tmp_path: Path) -> None:
    data, queries = clustered(3000, 32), clustered(50, 32, seed=2)
    truth = exact_top(data, queries, 10)
    recalls = []
    for refine in (0, 4):
        params = IndexParams(
            kind=IndexKind.IVFPQ, ivf_nlist=16, ivf_nprobe=16, pq_m=8, pq_bits=6, pq_refine=refine
        )
        index = VectorIndex.create(32, params, data)
        index.add(data, np.arange(3000, dtype=np.int64))
        _, ids = index.search(queries, 10)
        recalls.append(
            np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, truth, strict=True)])
        )
        index.save(tmp_path / f"r{refine}.faiss")
        again = VectorIndex.load(tmp_path / f"r{refine}.faiss", params)
        assert again.kind == IndexKind.IVFPQ
        assert np.array_equal(again.search(queries, 10)[1], ids)
        _, even = again.search(queries, 10, allowed=np.arange(0, 3000, 2, dtype=np.int64))
        assert (even[even >= 0] % 2 == 0).all()
    assert recalls[1] > recalls[0] + 0.2, recalls
    again.tune(refine=1, nprobe=4)  # search-time knobs change without a rebuild
    assert (again.params.pq_refine, again.params.ivf_nprobe, again.pq_m) == (1, 4, 8)
    _, coarse = again.search(queries, 10)
    assert not np.array_equal(coarse, ids)


def test_searches_go_to_the_gpu_copy_when_faiss_reports_a_gpu(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The routing, with faiss's GPU calls faked (the real GPU test is in test_shared_index)."""
    import retrieval.index as module

    moved: list[object] = []

    def to_gpus(index: object) -> object:
        moved.append(index)
        return index

    monkeypatch.setattr(module, "_gpus", lambda: 1)
    monkeypatch.setattr(module.faiss, "index_cpu_to_all_gpus", to_gpus, raising=False)
    data = clustered(200, 8)
    indexes = {
        (kind, gpu): VectorIndex.create(8, IndexParams(kind=kind, use_gpu=gpu))
        for kind in (IndexKind.FLAT, IndexKind.HNSW)
        for gpu in (True, False)
    }
    for index in indexes.values():
        index.add(data, np.arange(200, dtype=np.int64))
        index.search(data[:3], 2)
        index.search(data[:3], 2)
    flat_gpu = indexes[IndexKind.FLAT, True]
    assert [i.device for i in indexes.values()] == ["GPU (1)", "CPU", "CPU", "CPU"]
    assert len(moved) == 1  # copied once, not per search; HNSW has no GPU form here
    flat_gpu.search(data[:3], 2, allowed=np.array([1, 2], dtype=np.int64))  # selectors: CPU
    flat_gpu.add(data[:1], np.array([999], dtype=np.int64))
    flat_gpu.search(data[:3], 2)
    assert len(moved) == 2  # an add invalidates the GPU copy
