"""Retrieval benchmarks: ANN indexes against exact search, and report retrieval on IU X-ray.

    python benchmarks/bench_retrieval.py ann --n 100000 --dim 64
    python benchmarks/bench_retrieval.py iu --reports REPORTS.tgz  # IU X-ray, Open-i XML
    python benchmarks/bench_retrieval.py spectrum --reports REPORTS.tgz --out eig.npy
    python benchmarks/bench_retrieval.py ann --n 100000 --dim 384 --spectrum eig.npy

`ann` builds flat, HNSW, IVF-PQ and IVF-PQ with exact re-ranking through `retrieval.index` on
the same synthetic clustered unit vectors (a Gaussian mixture: real embeddings are clustered,
uniform random vectors are a pathological case for ANN), saves each, reopens it memory-mapped
as the knowledge base does, and measures recall@10 against exact search, single-query
latency, batched throughput, build time and bytes per vector (file, heap while built, heap
when mapped), side by side. One kind at a time is held, so peak memory is data + one index.
The mixture is isotropic by default (a hard case for quantisation: every direction carries
as much variance); `--spectrum` gives centres and noise the covariance eigenvalues measured
on real MiniLM embeddings (`spectrum`), in a random rotation, with the same total variance.

`iu` ingests the IU chest X-ray reports (Open-i XML) with `retrieval.ingest`, indexes every
report's impression plus the findings of all but the held-out reports, queries with each
held-out report's findings (impressions only, via the section filter) and reports MRR@10
of finding that same report's impression, for BM25, dense (MiniLM) and hybrid (RRF).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import platform
import random
import resource
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


def clustered(
    n: int, dim: int, rng: np.random.Generator, centres: np.ndarray, shape: np.ndarray | None
) -> np.ndarray:
    """Points around random centres; `shape` maps white noise to a non-isotropic covariance."""
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        picks = centres[rng.integers(0, len(centres), m)]
        noise = 0.35 * rng.standard_normal((m, dim), dtype=np.float32)
        out[start : start + m] = picks + (noise if shape is None else noise @ shape)
    return normalize(out)


def covariance_shape(path: Path | None, dim: int, rng: np.random.Generator) -> np.ndarray | None:
    """diag(sqrt(eigenvalues)) · random rotation, eigenvalues scaled to mean 1 (same energy)."""
    if path is None:
        return None
    eig = np.clip(np.load(path).astype(np.float64), 0, None)[:dim]
    eig = eig / eig.mean()
    rotation, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    return (np.sqrt(eig)[:, None] * rotation).astype(np.float32)


def cmd_spectrum(args: argparse.Namespace) -> None:
    """Eigenvalues of real MiniLM embeddings of IU X-ray report sections (for --spectrum)."""
    import re

    from retrieval.embeddings import SentenceTransformerEmbedder

    texts: set[str] = set()
    label = re.compile(r'<AbstractText Label="(?:FINDINGS|IMPRESSION)">([^<]+)</AbstractText>')
    with tarfile.open(args.reports) as tar:
        for member in tar.getmembers():
            fh = tar.extractfile(member) if member.name.endswith(".xml") else None
            if fh is not None:
                texts.update(t.strip() for t in label.findall(fh.read().decode("utf-8", "ignore")))
    sample = sorted(texts)
    random.Random(0).shuffle(sample)
    x = SentenceTransformerEmbedder().embed(sample[: args.count]).astype(np.float64)
    eig = np.clip(np.linalg.eigvalsh(np.cov((x - x.mean(0)).T))[::-1], 0, None)
    share = np.cumsum(eig) / eig.sum()
    needed = [int(np.searchsorted(share, q)) + 1 for q in (0.5, 0.9)]
    print(
        f"{len(x)} distinct report sections embedded; participation ratio "
        f"(sum λ)²/sum λ² = {eig.sum() ** 2 / (eig**2).sum():.1f} of {len(eig)}; principal "
        f"components for 50/90% of the variance: {needed}"
    )
    np.save(args.out, eig.astype(np.float32))


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


def rss_anon() -> int:
    """Private resident memory of this process in bytes (mapped file pages excluded).

    Freed memory is first handed back to the system, so a delta measures what is live.
    """
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
    return 0


Row = tuple[str, float, float, float, float, float, float, float, float]
"""label, recall, p50 ms, p95 ms, batch queries/s, build s, file B/vec, heap B/vec, mapped B/vec"""


def cmd_ann(args: argparse.Namespace) -> None:
    faiss.omp_set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((args.clusters, args.dim), dtype=np.float32)
    shape = covariance_shape(args.spectrum, args.dim, np.random.default_rng(1))
    if shape is not None:
        centres = centres @ shape
    data = clustered(args.n, args.dim, rng, centres, shape)
    queries = clustered(args.queries, args.dim, rng, centres, shape)
    ids = np.arange(args.n, dtype=np.int64)
    k, n = 10, args.n
    print(
        f"## ANN: n={n:,}, dim={args.dim}, {args.clusters} clusters, "
        f"{args.queries} queries, faiss threads={args.threads}, covariance: "
        f"{'isotropic' if args.spectrum is None else f'eigenvalues of {args.spectrum}'}\n"
    )
    configs = {
        "flat": IndexParams(kind=IndexKind.FLAT),
        "hnsw": IndexParams(
            kind=IndexKind.HNSW, hnsw_m=args.hnsw_m, hnsw_ef_construction=args.ef_construction
        ),
        "ivfpq": IndexParams(
            kind=IndexKind.IVFPQ, ivf_nlist=args.nlist, pq_m=args.pq_m, pq_bits=8, pq_refine=0
        ),
        "ivfpq-refine": IndexParams(
            kind=IndexKind.IVFPQ, ivf_nlist=args.nlist, pq_m=args.pq_m, pq_bits=8, pq_refine=10
        ),
    }
    rows: list[Row] = []
    truth = np.zeros((0, k), np.int64)
    lat_q = queries[: args.latency_queries]
    folder = Path(tempfile.mkdtemp(prefix="bench-ann-", dir=args.tmp))
    for name in ["flat", *args.kinds]:
        heap0, t0 = rss_anon(), time.perf_counter()
        index = VectorIndex.create(args.dim, configs[name], data if "ivfpq" in name else None)
        t1 = time.perf_counter()
        index.add(data, ids)
        build = time.perf_counter() - t0
        heap = (rss_anon() - heap0) / n
        print(f"built {name}: train {t1 - t0:.1f} s, add {build - t1 + t0:.1f} s", file=sys.stderr)
        if name == "flat":
            t = time.perf_counter()
            _, truth = index.search(queries, k)
            print(f"exact ground truth: {time.perf_counter() - t:.1f} s", file=sys.stderr)
        path = folder / f"{name}.faiss"
        index.save(path)
        size = path.stat().st_size / n
        sweep: list[tuple[str, dict[str, int]]] = [("flat (exact)", {})]
        if name == "hnsw":
            sweep = [
                (f"hnsw M={args.hnsw_m} efSearch={ef}", {"ef_search": ef}) for ef in args.ef_search
            ]
        elif "ivfpq" in name:
            factors = [0] if name == "ivfpq" else args.refine
            sweep = [
                (
                    f"ivfpq nlist={args.nlist} m={index.pq_m} nprobe={p}"
                    + (f" + re-rank {f}·k" if f else ""),
                    {"nprobe": p, **({"refine": f} if f else {})},
                )
                for p in args.nprobe
                for f in factors
            ]
        del index
        gc.collect()
        heap_mapped0 = rss_anon()
        mapped = VectorIndex.load(path, configs[name], mmap=True)  # as the knowledge base opens it
        for label, knobs in sweep:
            if knobs:
                mapped.tune(**knobs)
            t = time.perf_counter()
            _, found = mapped.search(queries, k)  # also warms the page cache
            batch_qps = len(queries) / (time.perf_counter() - t)
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_majflt
            med, p95 = latency_ms(mapped, lat_q, k)
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_majflt - faults
            print(f"{label}: {faults} major page faults in the batch-1 loop", file=sys.stderr)
            mheap = (rss_anon() - heap_mapped0) / n
            rows.append(
                (label, recall(found, truth, k), med, p95, batch_qps, build, size, heap, mheap)
            )
        del mapped
        gc.collect()
        path.unlink()
    folder.rmdir()
    print(
        "| index | recall@10 | p50 ms (batch 1) | p95 ms | speed-up vs flat | batch queries/s | "
        "build s | file B/vector | heap B/vector | heap B/vector mmap'd |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    base = rows[0][2]
    for label, rec, med, p95, qps, build, size, heap, mheap in rows:
        print(
            f"| {label} | {rec:.3f} | {med:.3f} | {p95:.3f} | {base / med:.1f}× | {qps:,.0f} | "
            f"{build:.1f} | {size:.0f} | {heap:.0f} | {mheap:.0f} |"
        )
    print(
        f"\n(raw float32 vector: {args.dim * 4} B; flat file = {size_note(args.dim)}; heap = "
        "growth of private resident memory (RssAnon) while building, ÷ n; mmap'd = the same after "
        "opening the saved file as the knowledge base does and running every query)"
    )


def size_note(dim: int) -> str:
    return f"{dim * 4} B vector + 8 B id"


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
    p.add_argument(
        "--kinds", nargs="+", default=["hnsw", "ivfpq", "ivfpq-refine"], help="besides flat"
    )
    p.add_argument("--hnsw-m", type=int, default=32)
    p.add_argument("--ef-construction", type=int, default=80)
    p.add_argument("--pq-m", type=int, default=None, help="PQ sub-quantizers (default dim/2)")
    p.add_argument("--nprobe", type=int, nargs="+", default=[16, 32, 64])
    p.add_argument("--ef-search", type=int, nargs="+", default=[32, 64, 128], help="HNSW")
    p.add_argument("--refine", type=int, nargs="+", default=[10], help="re-rank factors")
    p.add_argument("--tmp", type=Path, default=None, help="folder for the saved indexes")
    p.add_argument(
        "--spectrum", type=Path, default=None, help="eigenvalues (.npy) for the covariance"
    )
    p.set_defaults(func=cmd_ann)
    p = sub.add_parser("spectrum")
    p.add_argument("--reports", type=Path, required=True)
    p.add_argument("--count", type=int, default=3000)
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=cmd_spectrum)
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
