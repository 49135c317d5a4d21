"""A knowledge base on disk: SQLite metadata + FAISS vectors + BM25, searched hybrid.

Folder layout::

    meta.sqlite          chunks, sources, facts (embedder, generation)
    text-<gen>.faiss     dense vectors of the committed chunks
    image-<gen>.faiss    image vectors of reference cases (when an image encoder is set)

An update writes the next generation's index files, then commits the rows together with
the new generation number in one SQLite transaction, then deletes the files two
generations back (the previous generation stays, for instances that are still opening
it). A crash at any point leaves a committed generation whose files are complete;
leftovers are removed by the next update. Updates hold ``.write.lock`` (one writer at a
time), and an instance that has not seen the latest generation may not update.

Searches map the committed generation's index files read-only (`VectorIndex.load(mmap=
True)`), so several app instances on one machine share one copy of the vectors in the page
cache. An instance opens a generation from one consistent read of the generation number and
the passage count, and tries again if a writer moved on meanwhile. Each instance notices a
newer generation (`is_stale`) and switches to it whole; a file it still maps stays readable
after the writer deletes it (POSIX keeps unlinked files alive while mapped).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from retrieval.chunking import chunk_document
from retrieval.config import EmbedderSpec, RetrievalConfig
from retrieval.embeddings import (
    MINILM_NAME,
    Embedder,
    HashingEmbedder,
    ImageEmbedder,
    SentenceTransformerEmbedder,
)
from retrieval.hybrid import BM25Ranker, reciprocal_rank_fusion
from retrieval.image_embeddings import make_embedder, make_image_embedder
from retrieval.index import VectorIndex, choose_kind
from retrieval.store import MetadataStore
from retrieval.types import Chunk, Document, Filters, Hit, IndexKind, SearchMode
from tools.errors import ConfigError, InputError, ToolError

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["KnowledgeBase", "KnowledgeStats"]

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""Called as progress(passages_just_embedded, passages_to_embed_in_this_call)."""
_EMBED_BATCH = 256


@dataclass(frozen=True)
class KnowledgeStats:
    """What `medassist index stats` prints."""

    folder: str
    chunks: int
    sources: int
    embedder: str
    dim: int
    index_kind: str
    search_device: str
    """Where dense searches run: "CPU", or "GPU (n)" with faiss-gpu and a CUDA device."""
    image_vectors: int
    generation: int
    by_section: dict[str, int]
    by_modality: dict[str, int]


class KnowledgeBase:
    """Search and incremental updates over one knowledge-base folder."""

    def __init__(
        self,
        folder: Path,
        config: RetrievalConfig | None = None,
        *,
        embedder: Embedder | None = None,
        image_embedder: ImageEmbedder | None = None,
    ) -> None:
        self.folder = folder
        self.config = config or RetrievalConfig()
        folder.mkdir(parents=True, exist_ok=True)
        self.store = MetadataStore(folder / "meta.sqlite")
        self._inode = (folder / "meta.sqlite").stat().st_ino
        recorded = self.store.get_meta("embedder")
        spec = EmbedderSpec.model_validate(json.loads(recorded)) if recorded else None
        self.embedder = embedder or make_embedder(spec or self.config.embedder)
        if spec is None:
            with self.store.transaction():
                self.store.set_meta("embedder", self._spec_json())
        elif embedder is not None and spec.name != embedder.name:
            raise ConfigError(
                f"{folder} was built with embedder {spec.name!r}, not {embedder.name!r}; "
                "search it with the same model or rebuild it"
            )
        self.image_embedder = image_embedder or make_image_embedder(self.config.image_embedder)
        self._lock = threading.RLock()
        self._bm25: BM25Ranker | None = None
        self._meta: dict[int, Chunk] | None = None
        self.generation = 0
        self.text_index: VectorIndex | None = None
        self.image_index: VectorIndex | None = None
        self._open_committed()
        if self.text_index is not None:
            log.info(
                "knowledge base %s: generation %d, %d vectors, %s index searched on %s",
                folder, self.generation, len(self.text_index), self.text_index.kind.value,
                self.text_index.device,
            )  # fmt: skip

    def _spec_json(self) -> str:
        """How to rebuild this base's embedder when it is reopened without one."""
        found = self.embedder
        if isinstance(found, HashingEmbedder):
            spec = EmbedderSpec(kind="hashing", dim=found.dim, name=found.name)
        elif isinstance(found, SentenceTransformerEmbedder) and found.name == MINILM_NAME:
            spec = EmbedderSpec(kind="minilm", name=found.name)
        elif isinstance(found, SentenceTransformerEmbedder):
            spec = EmbedderSpec(kind="path", path=str(found.path.resolve()), name=found.name)
        else:
            spec = self.config.embedder.model_copy(update={"name": found.name})
        return spec.model_dump_json()

    def close(self) -> None:
        """Close the SQLite connection."""
        self.store.close()

    def is_stale(self) -> bool:
        """Whether another process has updated (`index add`) or replaced (`index build`) it."""
        try:
            if (self.folder / "meta.sqlite").stat().st_ino != self._inode:
                return True
        except FileNotFoundError:
            return True
        with self._lock:
            return int(self.store.get_meta("generation") or 0) != self.generation

    def _path(self, family: str, generation: int) -> Path:
        return self.folder / f"{family}-{generation}.faiss"

    def _load(self, family: str, generation: int) -> VectorIndex | None:
        path = self._path(family, generation)
        if generation == 0 or not path.exists():
            return None
        return VectorIndex.load(path, self.config.index.params(), mmap=True)

    def _open_committed(self, attempts: int = 5) -> None:
        """Map the committed generation's indexes, matched with its rows.

        A writer may commit (and delete old files) between reading the generation and
        opening its files; then the newer generation is opened instead.
        """
        for _ in range(attempts):
            generation, passages = self.store.committed()
            try:
                text, image = self._load("text", generation), self._load("image", generation)
            except ToolError:
                text = image = None
            vectors = len(text) if text is not None else 0
            if vectors == passages:
                self.generation, self.text_index, self.image_index = generation, text, image
                return
            if self.store.committed()[0] == generation:  # nobody moved on: really broken
                raise ToolError(
                    f"knowledge base {self.folder} is inconsistent ({passages} passages, "
                    f"{vectors} vectors) in generation {generation}; rebuild it with "
                    "`medassist index build`"
                )
        raise ToolError(
            f"knowledge base {self.folder} changed {attempts} times while it was being opened; "
            "try again when the update has finished"
        )

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Hold the folder's write lock (other processes' updates wait), then tidy up."""
        with (self.folder / ".write.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _remove_leftovers(self) -> None:
        """Delete index files other than the committed and the previous generation's."""
        keep = {self._path(f, g).name for f in ("text", "image") for g in self._live()}
        for path in self.folder.glob("*.faiss*"):
            if path.name not in keep:
                path.unlink(missing_ok=True)
        for path in self.folder.glob(".*.tmp"):
            path.unlink(missing_ok=True)

    # -- updates ---------------------------------------------------------------------

    def add_documents(
        self,
        docs: Sequence[Document],
        *,
        sources: dict[str, str] | None = None,
        progress: Progress | None = None,
    ) -> int:
        """Chunk, embed and add `docs` (skipping passages already stored); return how many.

        `sources` maps source names to content hashes recorded in the same transaction.
        """
        chunks: dict[str, Chunk] = {}
        for doc in docs:
            for chunk in chunk_document(doc, self.config.max_words):
                chunks.setdefault(chunk.citation_id, chunk)
        with self._lock, self._writing():
            if self.is_stale():  # another process committed since this one opened
                raise ToolError(
                    f"the knowledge base {self.folder} was updated by another process; "
                    "open it again and repeat the update"
                )
            self._remove_leftovers()  # only now: a stale instance must not delete current files
            known = self.store.known_citations(chunks)
            new = [c for cid, c in chunks.items() if cid not in known]
            vectors = self._embed([c.text for c in new], progress)
            images = self._embed_images(new)
            self._commit(new, vectors, images, sources or {})
        return len(new)

    def _embed(self, texts: Sequence[str], progress: Progress | None) -> NDArray[np.float32]:
        parts = []
        for start in range(0, len(texts), _EMBED_BATCH):
            batch = texts[start : start + _EMBED_BATCH]
            parts.append(self.embedder.embed(batch))
            if progress is not None:
                progress(len(batch), len(texts))
        if not parts:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        return np.concatenate(parts)

    def _embed_images(self, chunks: Sequence[Chunk]) -> dict[int, NDArray[np.float32]]:
        """Image vectors of new reference cases, keyed by the position of their first chunk."""
        if self.image_embedder is None:
            return {}
        first: dict[str, int] = {}
        for i, c in enumerate(chunks):
            if c.image_path:
                first.setdefault(c.image_path, i)
        if not first:
            return {}
        vectors = self.image_embedder.embed_images([Path(p) for p in first])
        return {i: vectors[row] for row, i in enumerate(first.values())}

    def _grown(
        self, index: VectorIndex | None, vectors: NDArray[np.float32], ids: NDArray[np.int64]
    ) -> VectorIndex:
        params = self.config.index.params()
        if index is not None and index.mapped_from is not None:  # searches map it read-only
            index = VectorIndex.load(index.mapped_from, params)
        total = len(vectors) + (len(index) if index is not None else 0)
        if (
            index is not None
            and index.kind == IndexKind.FLAT
            and (choose_kind(total, params) != IndexKind.FLAT)
        ):
            old_vectors, old_ids = index.contents()
            vectors, ids = np.concatenate([old_vectors, vectors]), np.concatenate([old_ids, ids])
            index = None  # outgrew exact search: rebuild once as HNSW / IVF-PQ
        if index is None:
            index = VectorIndex.create(vectors.shape[1], params, training=vectors)
        index.add(vectors, ids)
        return index

    def _commit(
        self,
        chunks: Sequence[Chunk],
        vectors: NDArray[np.float32],
        images: dict[int, NDArray[np.float32]],
        sources: dict[str, str],
    ) -> None:
        old = self.generation
        new = old + 1
        written: list[Path] = []
        try:
            with self.store.transaction():
                for source, sha in sources.items():
                    self.store.set_source_hash(source, sha)
                if not chunks:
                    return
                ids = np.asarray(self.store.insert(chunks), dtype=np.int64)
                text_index = self._grown(self.text_index, vectors, ids)
                image_index = self.image_index
                if images:
                    rows = sorted(images)
                    image_index = self._grown(
                        image_index, np.stack([images[r] for r in rows]), ids[rows]
                    )
                for family, index in (("text", text_index), ("image", image_index)):
                    if index is not None:
                        index.save(self._path(family, new))
                        written.append(self._path(family, new))
                self.store.set_meta("generation", str(new))
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            self.text_index, self.image_index = self._load("text", old), self._load("image", old)
            raise
        self.generation, self.text_index, self.image_index = new, text_index, image_index
        self._bm25 = self._meta = None
        self._remove_leftovers()

    def _live(self) -> tuple[int, int]:
        """Generations whose files are kept: the current one and the one before it."""
        return self.generation, self.generation - 1

    def is_current(self, source: str, sha256: str) -> bool:
        """Whether `source` was already ingested with this content."""
        with self._lock:
            return self.store.source_hash(source) == sha256

    # -- search ----------------------------------------------------------------------

    def _lexical(self) -> tuple[BM25Ranker, dict[int, Chunk]]:
        with self._lock:
            if self._bm25 is None or self._meta is None:
                self._meta = self.store.all_chunks()
                ids = list(self._meta)
                self._bm25 = BM25Ranker(ids, [self._meta[i].text for i in ids])
            return self._bm25, self._meta

    def _allowed(self, filters: Filters | None) -> set[int] | None:
        if filters is None or filters.empty:
            return None
        _, meta = self._lexical()
        return {i for i, c in meta.items() if filters.match(c)}

    def _dense(
        self,
        index: VectorIndex | None,
        query: NDArray[np.float32],
        n: int,
        allowed: set[int] | None,
        min_score: float,
    ) -> list[tuple[int, float]]:
        if index is None or (allowed is not None and not allowed):
            return []
        selection = None if allowed is None else np.fromiter(allowed, np.int64, len(allowed))
        scores, ids = index.search(query.reshape(1, -1), n, allowed=selection)
        return [
            (int(i), float(s))
            for s, i in zip(scores[0], ids[0], strict=True)
            if i >= 0 and s >= min_score
        ]

    def search(
        self,
        query: str,
        k: int | None = None,
        *,
        mode: SearchMode | None = None,
        filters: Filters | None = None,
    ) -> list[Hit]:
        """Best passages for `query`: BM25 and dense rankings fused by reciprocal rank."""
        settings = self.config.search
        k = k or settings.k
        mode = mode or settings.mode
        if not query.strip():
            raise InputError("the search query is empty; say what to look for")
        n = max(settings.candidates, k)
        vector = self.embedder.embed([query])[0] if mode != "bm25" else None
        with self._lock:  # one SQLite connection, and indexes swapped by updates
            allowed = self._allowed(filters)
            rankings: dict[str, list[tuple[int, float]]] = {}
            if mode in ("hybrid", "bm25"):
                bm25, _ = self._lexical()
                rankings["bm25"] = bm25.rank(query, n, allowed)
            if vector is not None:
                rankings["dense"] = self._dense(
                    self.text_index, vector, n, allowed, settings.dense_min_score
                )
            return self._hits(rankings, k, fused=mode == "hybrid")

    def search_image(
        self, image: Path, k: int | None = None, filters: Filters | None = None
    ) -> list[Hit]:
        """Find reference cases whose images look most like `image` (needs an encoder)."""
        if self.image_embedder is None:
            raise ToolError(
                "no image encoder is configured, so similar images cannot be searched; "
                "search by text instead (set image_embedder in configs/retrieval.yaml)"
            )
        vector = self.image_embedder.embed_images([image])[0]
        k = k or self.config.search.k
        with self._lock:
            ranking = self._dense(self.image_index, vector, k, self._allowed(filters), -1.0)
            return self._hits({"image": ranking}, k, fused=False)

    def _hits(
        self, rankings: dict[str, list[tuple[int, float]]], k: int, *, fused: bool
    ) -> list[Hit]:
        if fused:
            order = reciprocal_rank_fusion(
                {name: [i for i, _ in r] for name, r in rankings.items()}, self.config.search.rrf_k
            )[:k]
        else:
            ((name, ranking),) = rankings.items()
            order = [(i, s, {name: r}) for r, (i, s) in enumerate(ranking[:k], start=1)]
        chunks = self.store.get([i for i, _, _ in order])
        return [Hit(chunks[i], score, ranks) for i, score, ranks in order if i in chunks]

    def get(self, cid: str) -> Chunk | None:
        """Look up the passage with citation id `cid` (None if unknown)."""
        with self._lock:
            return self.store.by_citation(cid)

    def stats(self) -> KnowledgeStats:
        """Count passages and describe the settings of this base."""
        with self._lock:
            return self._stats()

    def _stats(self) -> KnowledgeStats:
        sources = len(self.store.all_sources())
        return KnowledgeStats(
            folder=str(self.folder),
            chunks=self.store.count(),
            sources=sources,
            embedder=self.embedder.name,
            dim=self.text_index.dim if self.text_index is not None else 0,
            index_kind=self.text_index.kind.value if self.text_index is not None else "empty",
            search_device=self.text_index.device if self.text_index is not None else "CPU",
            image_vectors=len(self.image_index) if self.image_index is not None else 0,
            generation=self.generation,
            by_section=self.store.counts_by("section"),
            by_modality=self.store.counts_by("modality"),
        )
