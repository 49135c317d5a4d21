"""Retrieval benchmarks: ANN indexes against exact search, and report retrieval on IU X-ray.

    python benchmarks/bench_retrieval.py ann --n 100000 --dim 64
    python benchmarks/bench_retrieval.py iu --reports REPORTS.tgz  # IU X-ray, Open-i XML

`ann` builds flat, HNSW and IVF-PQ (+ exact re-ranking) through `retrieval.index` on the same
synthetic clustered unit vectors (a Gaussian mixture: real embeddings are clustered, uniform
random vectors are a pathological case for ANN), then measures recall@10 against exact
search, single-query latency, build throughput and bytes per vector, side by side.

`iu` ingests the IU chest X-ray reports (Open-i XML) with `retrieval.ingest`, indexes every
report's impression plus the findings of all but the held-out reports, queries with each
held-out report's findings (impressions only, via the section filter) and reports MRR@10
of finding that same report's impression, for BM25, dense (MiniLM) and hybrid (RRF).
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

from retrieval.embeddings import normalize
from retrieval.index import IndexParams, VectorIndex
from retrieval.types import IndexKind


def clustered(n: int, dim: int, rng: np.random.Generator, centres: np.ndarray) -> np.ndarray:
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        picks = centres[rng.integers(0, len(centres), m)]
        out[start : start + m] = picks + 0.35 * rng.standard_normal((m, dim), dtype=np.float32)
    return normalize(out)


def recall(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    return float(
        np.mean([len(set(f[:k]) & set(t[:k])) / k for f, t in zip(found, truth, strict=True)])
    )


def latency_ms(index: VectorIndex, queries: np.ndarray, k: int) -> tuple[float, float]:
    times = []
    for q in queries:
        t = time.perf_counter()
        index.search(q[None, :], k)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


def cmd_ann(args: argparse.Namespace) -> None:
    faiss.omp_set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((args.clusters, args.dim), dtype=np.float32)
    data = clustered(args.n, args.dim, rng, centres)
    queries = clustered(args.queries, args.dim, rng, centres)
    ids = np.arange(args.n, dtype=np.int64)
    k = 10
    print(
        f"## ANN: n={args.n:,}, dim={args.dim}, {args.clusters} clusters, "
        f"{args.queries} queries, faiss threads={args.threads}\n"
    )
    builds: dict[str, tuple[VectorIndex, float, float]] = {}
    configs = {
        "flat": IndexParams(kind=IndexKind.FLAT),
        "hnsw": IndexParams(kind=IndexKind.HNSW, hnsw_m=32, hnsw_ef_construction=80),
        "ivfpq": IndexParams(
            kind=IndexKind.IVFPQ, ivf_nlist=args.nlist, pq_m=args.pq_m, pq_bits=8, pq_refine=10
        ),
    }
    for name, params in configs.items():
        if name != "flat" and name not in args.kinds:
            continue
        t0 = time.perf_counter()
        index = VectorIndex.create(args.dim, params, data if name == "ivfpq" else None)
        t1 = time.perf_counter()
        index.add(data, ids)
        t2 = time.perf_counter()
        builds[name] = (index, t1 - t0, t2 - t1)
        print(f"built {name}: train {t1 - t0:.1f} s, add {t2 - t1:.1f} s", file=sys.stderr)
    flat = builds["flat"][0]
    t = time.perf_counter()
    _, truth = flat.search(queries, k)
    print(
        f"exact ground truth for {args.queries} queries: {time.perf_counter() - t:.1f} s",
        file=sys.stderr,
    )
    lat_q = queries[: args.latency_queries]
    rows = []
    raw = args.dim * 4

    def row(label: str, index: VectorIndex, build: float, train: float, bytes_per: float) -> None:
        _, found = index.search(queries, k)
        med, p95 = latency_ms(index, lat_q, k)
        rows.append(
            (
                label,
                recall(found, truth, k),
                med,
                p95,
                0.0,
                args.n / build if build else float("nan"),
                train,
                bytes_per,
            )
        )

    size = {name: len(b[0].to_bytes()) / args.n for name, b in builds.items()}
    row("flat (exact)", flat, builds["flat"][2], 0.0, size["flat"])
    if "hnsw" in builds:
        hnsw, _, hnsw_add = builds["hnsw"]
        for ef in args.ef_search:
            hnsw.tune(ef_search=ef)
            row(f"hnsw M=32 efSearch={ef}", hnsw, hnsw_add, 0.0, size["hnsw"])
    if "ivfpq" in builds:
        ivf, train, add = builds["ivfpq"]
        for nprobe in args.nprobe:
            ivf.tune(nprobe=nprobe, refine=1)  # re-ranking k candidates keeps PQ's recall
            label = f"ivfpq nlist={args.nlist} m={ivf.pq_m} nprobe={nprobe}"
            row(label, ivf, add, train, size["ivfpq"] - raw)
            for factor in args.refine:
                ivf.tune(refine=factor)
                row(f"  + exact re-rank of {factor}·k", ivf, add, train, size["ivfpq"])
    print(
        "| index | recall@10 | latency median ms | p95 ms | speed-up vs flat | "
        "add vectors/s | train s | bytes/vector |"
    )
    print("|---|---|---|---|---|---|---|---|")
    base_med = rows[0][2]  # the exact index's own median
    for label, rec, med, p95, _, tput, tr, bpv in rows:
        print(
            f"| {label} | {rec:.3f} | {med:.3f} | {p95:.3f} | {base_med / med:.1f}× | "
            f"{tput:,.0f} | {tr:.1f} | {bpv:.0f} |"
        )
    print(f"\n(raw float32 vector: {raw} bytes; PQ-only bytes/vector excludes the re-rank copy)")


def norm(text: str) -> str:
    return " ".join(text.lower().split())


def cmd_iu(args: argparse.Namespace) -> None:
    from retrieval.config import RetrievalConfig
    from retrieval.embeddings import SentenceTransformerEmbedder
    from retrieval.ingest import iter_documents
    from retrieval.knowledge import KnowledgeBase
    from retrieval.types import Document, Filters, Section

    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(args.reports) as tar:
            tar.extractall(tmp, filter="data")
        docs: list[Document] = [d for _, found in iter_documents(Path(tmp)) for d in found]
        sections = [dict(d.sections) for d in docs]
        usable = [
            i
            for i, s in enumerate(sections)
            if s.get(Section.FINDINGS) and s.get(Section.IMPRESSION)
        ]
        random.Random(0).shuffle(usable)
        held = set(usable[: args.holdout])
        indexed = []
        for i, d in enumerate(docs):
            keep = tuple(
                (s, t)
                for s, t in d.sections
                if s == Section.IMPRESSION or (s == Section.FINDINGS and i not in held)
            )
            if keep:
                indexed.append(
                    Document(
                        d.source, d.kind, keep, d.title, d.modality, d.date, d.image_path, d.doc_key
                    )
                )
        print(
            f"## IU X-ray: {len(docs)} reports, {len(usable)} with findings and impression, "
            f"{len(held)} held out\n"
        )
        embedder = SentenceTransformerEmbedder()
        t = time.perf_counter()
        kb = KnowledgeBase(Path(tmp) / "kb", RetrievalConfig(), embedder=embedder)
        kb.add_documents(indexed)
        print(
            f"indexed {kb.stats().chunks} passages in {time.perf_counter() - t:.0f} s",
            file=sys.stderr,
        )
        only_impressions = Filters(section=Section.IMPRESSION)
        results = {}
        for mode in ("bm25", "dense", "hybrid"):
            strict, lenient, times = [], [], []
            for i in sorted(held):
                target, answer = docs[i].source, norm(sections[i][Section.IMPRESSION])
                t = time.perf_counter()
                hits = kb.search(
                    sections[i][Section.FINDINGS], 10, mode=mode, filters=only_impressions
                )
                times.append(time.perf_counter() - t)
                ranks_s = [r for r, h in enumerate(hits, 1) if h.chunk.source == target]
                ranks_l = [r for r, h in enumerate(hits, 1) if norm(h.chunk.text) == answer]
                strict.append(1 / ranks_s[0] if ranks_s else 0.0)
                lenient.append(1 / ranks_l[0] if ranks_l else 0.0)
            results[mode] = (np.mean(strict), np.mean(lenient), statistics.median(times) * 1000)
        kb.close()
    print("| ranking | MRR@10 (same report) | MRR@10 (same impression text) | median ms/query |")
    print("|---|---|---|---|")
    for mode, (same_report, same_text, ms) in results.items():
        print(f"| {mode} | {same_report:.3f} | {same_text:.3f} | {ms:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("ann")
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--clusters", type=int, default=1000)
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--latency-queries", type=int, default=200)
    p.add_argument("--nlist", type=int, default=1024)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--kinds", nargs="+", default=["hnsw", "ivfpq"], help="besides flat")
    p.add_argument("--pq-m", type=int, default=None, help="PQ sub-quantizers (default dim/4)")
    p.add_argument("--nprobe", type=int, nargs="+", default=[16, 32, 64])
    p.add_argument("--ef-search", type=int, nargs="+", default=[32, 64, 128], help="HNSW")
    p.add_argument("--refine", type=int, nargs="+", default=[10], help="re-rank factors")
    p.set_defaults(func=cmd_ann)
    p = sub.add_parser("iu")
    p.add_argument("--reports", type=Path, required=True)
    p.add_argument("--holdout", type=int, default=500)
    p.set_defaults(func=cmd_iu)
    args = parser.parse_args()
    print(
        f"<!-- {platform.processor() or platform.machine()}, python {platform.python_version()}, "
        f"faiss {faiss.__version__} -->"
    )
    args.func(args)


if __name__ == "__main__":
    main()
