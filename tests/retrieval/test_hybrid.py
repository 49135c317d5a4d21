"""BM25 and reciprocal-rank fusion, with exact expected values."""

from __future__ import annotations

import math

from retrieval.hybrid import BM25Ranker, reciprocal_rank_fusion, tokenize


def test_tokenize() -> None:
    assert tokenize("Pleural-effusion, 3.5 cm; Ergüsse") == [
        "pleural",
        "effusion",
        "3.5",
        "cm",
        "ergüsse",
    ]
    assert tokenize("右下肺炎 CT") == ["右", "下", "肺", "炎", "ct"]


def test_bm25_scores_match_the_formula() -> None:
    ranker = BM25Ranker([7, 8, 9], ["effusion effusion left", "no effusion", "clear lungs"])
    hits = ranker.rank("effusion", 5)
    assert [i for i, _ in hits] == [7, 8]  # the third text has no query term
    idf = math.log1p((3 - 2 + 0.5) / (2 + 0.5))
    avg = (3 + 2 + 2) / 3
    expected = idf * 2 * 2.2 / (2 + 1.2 * (1 - 0.75 + 0.75 * 3 / avg))
    assert math.isclose(hits[0][1], expected, rel_tol=1e-5)
    assert ranker.rank("effusion", 5, allowed={8, 9}) == [hits[1]]
    assert ranker.rank("pneumothorax", 5) == [] and BM25Ranker([], []).rank("x", 3) == []


def test_single_document_corpus_still_ranks() -> None:
    assert [i for i, _ in BM25Ranker([1], ["left effusion"]).rank("effusion", 3)] == [1]


def test_reciprocal_rank_fusion() -> None:
    fused = reciprocal_rank_fusion({"bm25": [1, 2, 3], "dense": [3, 1]}, k=60)
    assert [d for d, _, _ in fused] == [1, 3, 2]
    assert math.isclose(fused[0][1], 1 / 61 + 1 / 62)
    assert fused[1][2] == {"bm25": 3, "dense": 1}
    assert reciprocal_rank_fusion({"bm25": [], "dense": []}) == []
