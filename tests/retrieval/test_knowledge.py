"""The knowledge base end to end with real FAISS and SQLite (hashing embedder)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from retrieval.config import IndexSettings, RetrievalConfig
from retrieval.embeddings import HashingEmbedder
from retrieval.types import Document, Filters, IndexKind, Modality, Section
from tests.retrieval.conftest import KBFactory, guideline_doc, report_docs
from tools.errors import ConfigError, InputError, ToolError


def test_hybrid_dense_and_bm25_find_the_right_passage(open_kb: KBFactory) -> None:
    kb = open_kb()
    assert kb.add_documents(report_docs()) == 10
    for mode in ("hybrid", "dense", "bm25"):
        hits = kb.search("pleural effusion", 3, mode=mode)
        assert hits[0].chunk.source == "reports/r0.txt", mode
        assert {h.chunk.source for h in hits[:2]} == {"reports/r0.txt"}, mode
    hybrid = kb.search("pleural effusion", 3)
    assert set(hybrid[0].ranks) == {"bm25", "dense"}


def test_metadata_filters(open_kb: KBFactory) -> None:
    kb = open_kb()
    kb.add_documents([*report_docs(), guideline_doc()])
    hits = kb.search("pneumothorax", 5, filters=Filters(section=Section.IMPRESSION))
    assert hits and all(h.chunk.section == Section.IMPRESSION for h in hits)
    assert hits[0].chunk.text == "Right apical pneumothorax."
    ct = kb.search("pulmonary embolism", 5, filters=Filters(modality=Modality.CT))
    assert [h.chunk.source for h in ct] == ["guides/ct.md"]
    assert kb.search("effusion", 5, filters=Filters(modality=Modality.MRI)) == []


def test_citation_ids_are_stable_across_rebuilds(open_kb: KBFactory, tmp_path: Path) -> None:
    first = open_kb(tmp_path / "a")
    second = open_kb(tmp_path / "b")
    first.add_documents(report_docs())
    second.add_documents(list(reversed(report_docs())))
    ids = {h.chunk.citation_id for h in first.search("heart", 10, mode="bm25")}
    assert ids == {h.chunk.citation_id for h in second.search("heart", 10, mode="bm25")}
    cid = next(iter(ids))
    chunk = first.get(cid)
    assert chunk is not None and cid.startswith("kb-") and first.get("kb-0000000000") is None


def test_persistence_across_restart_and_incremental_add(open_kb: KBFactory, tmp_path: Path) -> None:
    folder = tmp_path / "kb"
    kb = open_kb(folder)
    kb.add_documents(report_docs()[:3])
    before = [h.chunk.citation_id for h in kb.search("consolidation", 3)]
    kb.close()
    again = open_kb(folder)
    assert again.generation == 1 and again.stats().chunks == 6
    assert [h.chunk.citation_id for h in again.search("consolidation", 3)] == before
    assert again.add_documents(report_docs()) == 4  # only the two new reports
    assert again.add_documents(report_docs()) == 0  # nothing new: no new generation
    assert again.generation == 2
    assert sorted(p.name for p in folder.glob("*.faiss")) == ["text-1.faiss", "text-2.faiss"]
    assert again.search("pneumothorax", 1)[0].chunk.source == "reports/r3.txt"


def test_reopen_uses_the_recorded_embedder(open_kb: KBFactory, tmp_path: Path) -> None:
    from retrieval.knowledge import KnowledgeBase

    kb = open_kb(tmp_path / "kb", embedder=HashingEmbedder(32))
    kb.add_documents(report_docs())
    kb.close()
    reopened = KnowledgeBase(tmp_path / "kb")  # no embedder given: rebuilt from meta
    try:
        assert reopened.embedder.name == "hashing-32"
        assert reopened.search("cardiomegaly", 1)[0].chunk.source == "reports/r4.txt"
    finally:
        reopened.close()
    with pytest.raises(ConfigError, match="built with embedder 'hashing-32', not 'hashing-64'"):
        open_kb(tmp_path / "kb", embedder=HashingEmbedder(64))


def test_crash_before_commit_leaves_previous_state(
    open_kb: KBFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "kb"
    kb = open_kb(folder)
    kb.add_documents(report_docs()[:2])
    real_set_meta = kb.store.set_meta

    def crash(key: str, value: str) -> None:
        if key == "generation":
            raise KeyboardInterrupt  # the process dies after the new index file was written
        real_set_meta(key, value)

    monkeypatch.setattr(kb.store, "set_meta", crash)
    with pytest.raises(KeyboardInterrupt):
        kb.add_documents(report_docs())
    assert kb.stats().chunks == 4 and kb.generation == 1 and len(kb.text_index or []) == 4
    assert sorted(p.name for p in folder.glob("*.faiss")) == ["text-1.faiss"]
    monkeypatch.undo()
    kb.close()
    again = open_kb(folder)
    assert again.stats().chunks == 4
    assert again.add_documents(report_docs()) == 6


def test_leftovers_of_a_killed_writer_are_removed(open_kb: KBFactory, tmp_path: Path) -> None:
    """By the next writer: a reader opening the folder may not delete another process's
    files (they may be an update in progress)."""
    folder = tmp_path / "kb"
    kb = open_kb(folder)
    kb.add_documents(report_docs())
    kb.close()
    (folder / "text-2.faiss").write_bytes(b"written but never committed")
    (folder / ".text-3.faiss.abc.tmp").write_bytes(b"half")
    again = open_kb(folder)
    assert again.search("effusion", 1)[0].chunk.source == "reports/r0.txt"
    assert len([p for p in folder.iterdir() if "faiss" in p.name]) == 3  # a reader leaves them
    assert again.add_documents(report_docs()) == 0  # an update, even of nothing new, tidies
    assert sorted(p.name for p in folder.iterdir() if "faiss" in p.name) == ["text-1.faiss"]


def test_missing_vectors_are_reported(open_kb: KBFactory, tmp_path: Path) -> None:
    folder = tmp_path / "kb"
    kb = open_kb(folder)
    kb.add_documents(report_docs())
    kb.store.set_meta("generation", "1")
    with kb.store.transaction():
        chunk = next(iter(kb.store.all_chunks().values()))
        kb.store.insert([replace(chunk, citation_id="kb-orphan")])  # a row without a vector
    kb.close()
    with pytest.raises(ToolError, match=r"inconsistent \(11 passages, 10 vectors\)"):
        open_kb(folder)


def test_empty_base_and_query_without_results(open_kb: KBFactory) -> None:
    kb = open_kb(embedder=HashingEmbedder(4096))  # wide enough that unrelated words never collide
    assert kb.search("effusion") == [] and kb.stats().index_kind == "empty"
    kb.add_documents(report_docs())
    assert kb.search("zebra xylophone quantum") == []
    assert kb.search("zebra xylophone quantum", mode="dense") == []
    with pytest.raises(InputError, match="query is empty"):
        kb.search("   ")


def test_non_english_documents(open_kb: KBFactory) -> None:
    kb = open_kb()
    docs = [
        Document("de.txt", "report", ((Section.FINDINGS, "Kleiner Pleuraerguss rechts."),)),
        Document("zh.txt", "report", ((Section.IMPRESSION, "右下肺炎。未见气胸。"),)),
        *report_docs(),
    ]
    kb.add_documents(docs)
    assert kb.search("Pleuraerguss", 1)[0].chunk.source == "de.txt"
    assert kb.search("肺炎", 1, mode="bm25")[0].chunk.text == "右下肺炎。未见气胸。"


def test_very_long_document_is_split_and_searchable(open_kb: KBFactory) -> None:
    kb = open_kb(config=RetrievalConfig(max_words=50))
    filler = " ".join(f"Sentence number {i} describes nothing in particular." for i in range(800))
    needle = "A calcified granuloma sits in the left lower lobe."
    text = filler + " " + needle + " " + filler
    assert kb.add_documents([Document("long.txt", "document", ((Section.BODY, text),))]) > 100
    hit = kb.search("calcified granuloma", 1)[0]
    assert needle in hit.chunk.text and len(hit.chunk.text.split()) <= 50


def test_auto_index_grows_from_flat_to_hnsw(open_kb: KBFactory) -> None:
    config = RetrievalConfig(index=IndexSettings(flat_max=6))
    kb = open_kb(config=config)
    kb.add_documents(report_docs()[:2])
    assert kb.stats().index_kind == IndexKind.FLAT
    kb.add_documents(report_docs())
    stats = kb.stats()
    assert (stats.index_kind, stats.chunks, stats.generation) == (IndexKind.HNSW, 10, 2)
    assert kb.search("pneumothorax", 1, mode="dense")[0].chunk.source == "reports/r3.txt"


def test_stats(open_kb: KBFactory) -> None:
    kb = open_kb()
    kb.add_documents([*report_docs(), guideline_doc()], sources={"reports": "abc"})
    stats = kb.stats()
    assert stats.by_section == {"findings": 5, "impression": 5, "body": 1}
    assert stats.by_modality == {"xray": 10, "ct": 1}
    assert (stats.sources, stats.dim, stats.embedder) == (1, 64, "hashing-64")
    assert kb.is_current("reports", "abc") and not kb.is_current("reports", "def")


def test_concurrent_searches_during_an_update(open_kb: KBFactory) -> None:
    from concurrent.futures import ThreadPoolExecutor

    kb = open_kb()
    kb.add_documents(report_docs()[:3])
    with ThreadPoolExecutor(max_workers=4) as pool:
        searches = [pool.submit(kb.search, "effusion", 3) for _ in range(40)]
        update = pool.submit(kb.add_documents, report_docs())
        results = [f.result() for f in searches]
    assert update.result() == 4
    assert all(r and r[0].chunk.source == "reports/r0.txt" for r in results)
