"""Lexical ranking (BM25) and reciprocal-rank fusion with the dense ranking."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["BM25Ranker", "reciprocal_rank_fusion", "tokenize"]

_TOKEN = re.compile(r"[^\W\d_]+|\d+(?:[.,]\d+)?", re.UNICODE)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")


def tokenize(text: str) -> list[str]:
    """Lower-cased words and numbers; CJK runs become single characters (no spaces there)."""
    out: list[str] = []
    for token in _TOKEN.findall(text.lower()):
        if _CJK.search(token):
            out.extend(ch for ch in token if not ch.isspace())
        else:
            out.append(token)
    return out


class BM25Ranker:
    """Okapi BM25 with Lucene's always-positive IDF, over texts keyed by row ids.

    Own implementation over numpy postings: only documents that share a query term score,
    and a one-document corpus still ranks (classic Okapi IDF goes negative there).
    """

    def __init__(
        self, ids: Sequence[int], texts: Sequence[str], k1: float = 1.2, b: float = 0.75
    ) -> None:
        self._ids = np.asarray(ids, dtype=np.int64)
        self.k1, self.b = k1, b
        postings: dict[str, dict[int, int]] = {}
        lengths = np.zeros(len(texts), dtype=np.float32)
        for row, text in enumerate(texts):
            tokens = tokenize(text)
            lengths[row] = len(tokens)
            for token in tokens:
                docs = postings.setdefault(token, {})
                docs[row] = docs.get(row, 0) + 1
        self._lengths = lengths
        avg = float(lengths.mean()) if len(texts) else 1.0
        self._norm = k1 * (1.0 - b + b * lengths / max(avg, 1e-9))
        self._postings = {
            t: (
                np.fromiter(d.keys(), np.int64, len(d)),
                np.fromiter(d.values(), np.float32, len(d)),
            )
            for t, d in postings.items()
        }

    def __len__(self) -> int:
        return int(self._ids.shape[0])

    def scores(self, query: str) -> NDArray[np.float32]:
        """BM25 score of every document (row order) for `query`."""
        n = len(self)
        out = np.zeros(n, dtype=np.float32)
        for token in set(tokenize(query)):
            found = self._postings.get(token)
            if found is None:
                continue
            rows, tf = found
            idf = np.log1p((n - rows.size + 0.5) / (rows.size + 0.5))
            out[rows] += idf * tf * (self.k1 + 1.0) / (tf + self._norm[rows])
        return out

    def rank(self, query: str, k: int, allowed: set[int] | None = None) -> list[tuple[int, float]]:
        """Top-`k` (row id, score) of documents sharing a query term, within `allowed`."""
        if k <= 0 or len(self) == 0:
            return []
        scores = self.scores(query)
        if allowed is not None:
            mask = np.isin(self._ids, np.fromiter(allowed, dtype=np.int64, count=len(allowed)))
            scores = np.where(mask, scores, 0.0).astype(np.float32)
        positive = np.flatnonzero(scores > 0)
        if positive.size == 0:
            return []
        top = positive[np.argsort(-scores[positive], kind="stable")[:k]]
        return [(int(self._ids[i]), float(scores[i])) for i in top]


def reciprocal_rank_fusion(
    rankings: Mapping[str, Sequence[int]], k: int = 60
) -> list[tuple[int, float, dict[str, int]]]:
    """Fuse ranked id lists: score = Σ 1/(k + rank). Returns (id, score, ranks) best first."""
    scores: dict[int, float] = {}
    ranks: dict[int, dict[str, int]] = {}
    for name, ranking in rankings.items():
        for rank, doc in enumerate(ranking, start=1):
            scores[doc] = scores.get(doc, 0.0) + 1.0 / (k + rank)
            ranks.setdefault(doc, {})[name] = rank
    order = sorted(scores, key=lambda d: (-scores[d], min(ranks[d].values()), d))
    return [(d, scores[d], ranks[d]) for d in order]
