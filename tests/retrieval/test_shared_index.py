"""Indexes opened memory-mapped and shared read-only; updates switch readers over whole.

A second process stands for another app instance on the same machine: it maps the same
index file, and after an update in this process it searches the new generation.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from retrieval.index import IndexParams, VectorIndex
from retrieval.knowledge import KnowledgeBase
from retrieval.types import Document, IndexKind, Section
from tests.retrieval.conftest import KBFactory, report_docs
from tools.errors import ToolError


def _mapped(path: Path, pid: str = "self") -> bool:
    """Whether process `pid` has `path` memory-mapped."""
    return any(str(path) in line for line in Path(f"/proc/{pid}/maps").read_text().splitlines())


@pytest.mark.parametrize("kind", [IndexKind.FLAT, IndexKind.HNSW, IndexKind.IVFPQ])
def test_a_saved_index_is_mapped_read_only_and_searches_the_same(
    tmp_path: Path, kind: IndexKind
) -> None:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((12_000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    params = IndexParams(kind=kind, ivf_nlist=16, pq_m=8)
    index = VectorIndex.create(32, params, training=vectors)
    index.add(vectors, np.arange(len(vectors), dtype=np.int64))
    path = tmp_path / f"{kind.value}.faiss"
    index.save(path)
    mapped = VectorIndex.load(path, params, mmap=True)
    assert mapped.mapped_from == path and _mapped(path)
    queries = vectors[:20]
    assert np.array_equal(mapped.search(queries, 5)[1], index.search(queries, 5)[1])
    with pytest.raises(ToolError, match="read-only"):  # FAISS itself would abort the process
        mapped.add(vectors[:1], np.array([99_999], dtype=np.int64))
    assert mapped.device == "CPU"  # no GPU here (faiss-gpu and a CUDA device would say GPU)


def _new_doc(n: int = 0) -> Document:
    return Document(
        source="reports/new.txt" if n == 0 else f"reports/new{n}.txt",
        kind="report",
        sections=((Section.FINDINGS, f"Displaced fracture of the left clavicle ({n})."),),
    )


def test_two_instances_share_the_index_and_both_switch_to_an_update(
    open_kb: KBFactory, tmp_path: Path
) -> None:
    folder = tmp_path / "kb"
    writer = open_kb(folder)
    writer.add_documents(report_docs())
    reader = open_kb(folder)
    assert reader.text_index is not None and reader.text_index.mapped_from is not None
    assert _mapped(folder / "text-1.faiss")
    writer.add_documents([_new_doc()])  # a new generation; the previous one is kept
    assert sorted(p.name for p in folder.glob("*.faiss")) == ["text-1.faiss", "text-2.faiss"]
    # the reader still searches its generation (the mapping outlives the deleted file) ...
    assert reader.search("clavicle fracture", 3, mode="dense")
    assert reader.is_stale()
    # ... and an instance opened now sees the update whole
    fresh = open_kb(folder)
    assert fresh.search("clavicle fracture", 1)[0].chunk.source == "reports/new.txt"
    assert fresh.stats().chunks == writer.stats().chunks
    with pytest.raises(ToolError, match="updated by another process"):
        reader.add_documents([_new_doc()])  # a stale instance may not write over it


READER = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from retrieval.embeddings import HashingEmbedder
    from retrieval.tool import open_knowledge_base
    from retrieval.config import RetrievalConfig
    folder = Path(sys.argv[1])
    for line in sys.stdin:
        kb = open_knowledge_base(folder, RetrievalConfig())
        hit = kb.search(line.strip(), 1)[0]
        print(kb.generation, hit.chunk.source, flush=True)
    """
)


def _hashing_kb(open_kb: KBFactory, folder: Path) -> KnowledgeBase:
    """A knowledge base of the five reports with the 256-d hashing embedder, which a second
    process reopens from the recorded embedder without loading a model."""
    from retrieval.config import EmbedderSpec, RetrievalConfig

    config = RetrievalConfig(embedder=EmbedderSpec(kind="hashing", dim=256, name="hashing-256"))
    kb = open_kb(folder, config)
    kb.add_documents(report_docs())
    return kb


def test_another_process_maps_the_same_file_and_follows_updates(
    open_kb: KBFactory, tmp_path: Path
) -> None:

    folder = tmp_path / "kb"
    writer = _hashing_kb(open_kb, folder)
    with subprocess.Popen(
        [sys.executable, "-c", READER, str(folder)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        cwd=Path(__file__).resolve().parents[2],
    ) as proc:  # fmt: skip
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("pleural effusion\n")
        proc.stdin.flush()
        assert proc.stdout.readline().split() == ["1", "reports/r0.txt"]
        assert _mapped(folder / "text-1.faiss", str(proc.pid))  # one copy, in the page cache
        writer.add_documents([_new_doc()])
        proc.stdin.write("displaced clavicle fracture\n")
        proc.stdin.flush()
        assert proc.stdout.readline().split() == ["2", "reports/new.txt"]
        assert _mapped(folder / "text-2.faiss", str(proc.pid))
        proc.stdin.close()
        assert proc.wait(30) == 0


def test_a_stale_instance_refused_an_update_deletes_nothing(
    open_kb: KBFactory, tmp_path: Path
) -> None:
    folder = tmp_path / "kb"
    writer = open_kb(folder)
    writer.add_documents(report_docs())
    stale = open_kb(folder)
    writer.add_documents([_new_doc(1)])
    writer.add_documents([_new_doc(2)])
    with pytest.raises(ToolError, match="updated by another process"):
        stale.add_documents([_new_doc(3)])
    assert sorted(p.name for p in folder.glob("*.faiss")) == ["text-2.faiss", "text-3.faiss"]
    assert open_kb(folder).search("clavicle (2)", 1)[0].chunk.source == "reports/new2.txt"


def _race(monkeypatch: pytest.MonkeyPatch, target: str, during: Any) -> list[Path]:
    """Run `during()` when a reader is about to map `target` (after it read the generation)."""
    real = VectorIndex.load.__func__  # type: ignore[attr-defined]
    raced: list[Path] = []

    def load(cls: type[VectorIndex], path: Path, params: IndexParams, **kw: Any) -> VectorIndex:
        if not raced and kw.get("mmap") and path.name == target:
            raced.append(path)
            during()
        return real(cls, path, params, **kw)  # type: ignore[no-any-return]

    monkeypatch.setattr(VectorIndex, "load", classmethod(load))
    return raced


def test_an_instance_opening_during_one_commit_gets_the_whole_older_generation(
    open_kb: KBFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "kb"
    writer = open_kb(folder)
    writer.add_documents(report_docs())
    raced = _race(monkeypatch, "text-1.faiss", lambda: writer.add_documents([_new_doc()]))
    reader = open_kb(folder)
    assert raced and reader.generation == 1 and reader.is_stale()
    assert reader.text_index is not None and len(reader.text_index) == 10
    assert reader.stats().chunks == 11  # the rows are newer; the vectors and ids are whole
    assert reader.search("pneumothorax", 1, mode="dense")[0].chunk.source == "reports/r3.txt"


def test_an_instance_opening_during_two_commits_opens_the_newest(
    open_kb: KBFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "kb"
    writer = open_kb(folder)
    writer.add_documents(report_docs())

    def two_updates() -> None:  # the second deletes text-1.faiss before the reader maps it
        writer.add_documents([_new_doc(1)])
        writer.add_documents([_new_doc(2)])

    raced = _race(monkeypatch, "text-1.faiss", two_updates)
    reader = open_kb(folder)
    assert raced and not (folder / "text-1.faiss").exists()
    assert reader.generation == 3 and not reader.is_stale()
    assert reader.text_index is not None and len(reader.text_index) == 12
    assert reader.search("clavicle (2)", 1)[0].chunk.source == "reports/new2.txt"


def test_searches_while_updates_commit_always_see_a_whole_generation(
    open_kb: KBFactory, tmp_path: Path
) -> None:
    """A reader thread searches through open_knowledge_base (as the tool does) non-stop."""
    from retrieval.tool import close_knowledge_bases, open_knowledge_base

    folder = tmp_path / "kb"
    writer = _hashing_kb(open_kb, folder)
    done = threading.Event()

    def read() -> list[tuple[int, int, int]]:
        seen: list[tuple[int, int, int]] = []
        while not done.is_set() or not seen or seen[-1][0] < 6:
            kb = open_knowledge_base(folder, writer.config)
            index = kb.text_index
            assert index is not None
            assert all(h.chunk.text for h in kb.search("clavicle fracture", 5))
            _, ids = index.search(kb.embedder.embed(["clavicle fracture"]), 50)
            seen.append((kb.generation, len(index), len(set(ids[0][ids[0] >= 0].tolist()))))
        return seen

    with ThreadPoolExecutor(1) as pool:
        reading = pool.submit(read)
        try:
            for n in range(1, 6):
                writer.add_documents([_new_doc(n)])
        finally:
            done.set()
        seen = reading.result(timeout=60)  # re-raises whatever the reader hit
    close_knowledge_bases()
    generations = [g for g, _, _ in seen]
    assert generations == sorted(generations) and generations[-1] == 6
    # each search saw exactly its generation's vectors (10, plus one per update), all distinct
    assert all(vectors == found == 10 + g - 1 for g, vectors, found in seen)


def test_the_gpu_index_is_used_where_faiss_sees_a_gpu(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Runs on a CUDA machine with faiss-gpu; elsewhere it is skipped, saying why."""
    import faiss

    gpus = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
    if gpus == 0:
        pytest.skip("no CUDA GPU: faiss reports 0 GPUs (faiss-cpu, or no device); ran on CPU")
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((5_000, 64)).astype(np.float32)
    on_gpu = VectorIndex.create(64, IndexParams(kind=IndexKind.FLAT, use_gpu=True))
    on_cpu = VectorIndex.create(64, IndexParams(kind=IndexKind.FLAT, use_gpu=False))
    for index in (on_gpu, on_cpu):
        index.add(vectors, np.arange(5_000, dtype=np.int64))
    assert on_gpu.device == f"GPU ({gpus})" and on_cpu.device == "CPU"
    with caplog.at_level(logging.INFO, logger="retrieval.index"):
        found = on_gpu.search(vectors[:50], 10)[1]
    assert f"flat index of 5000 vectors on {gpus} GPU(s)" in caplog.text  # really moved
    assert np.array_equal(found, on_cpu.search(vectors[:50], 10)[1])
