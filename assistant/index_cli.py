"""``medassist index build|add|search|stats``: manage a knowledge base from the shell.

`add_index_commands(subparsers)` adds the ``index`` command to the `medassist` parser;
each handler returns an exit status and raises `MedAssistError`s for the caller to print.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tqdm import tqdm

from assistant.config import load_config
from retrieval.config import RetrievalConfig, load_retrieval_config
from retrieval.ingest import discover, read_file
from retrieval.knowledge import KnowledgeBase
from retrieval.types import Document, Filters, Modality, Section
from tools.errors import InputError

__all__ = ["add_index_commands", "default_knowledge_dir"]

_FILES_PER_COMMIT = 500
"""Files read between commits during build/add, so an interrupted run keeps its progress."""


def default_knowledge_dir() -> Path:
    """``<data_dir>/knowledge`` of the application configuration."""
    knowledge = load_config().knowledge.dir
    assert knowledge is not None  # resolved by load_config
    return knowledge


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _config(args: argparse.Namespace) -> RetrievalConfig:
    if args.retrieval_config is not None:
        return load_retrieval_config(args.retrieval_config)
    return load_config().retrieval


def _kb_dir(args: argparse.Namespace) -> Path:
    return Path(args.kb) if args.kb else default_knowledge_dir()


def _ingest(kb: KnowledgeBase, sources: list[Path], modality: Modality | None, quiet: bool) -> int:
    """Add every new or changed file under `sources`; return the number of new passages."""
    files = [f for root in sources for f in discover(root)]
    added = 0
    embed_bar = tqdm(desc="embedding", unit="passage", disable=quiet, leave=False)

    def progress(n: int, total: int) -> None:
        if embed_bar.total != total:
            embed_bar.total = total
        embed_bar.update(n)

    pending: list[Document] = []
    hashes: dict[str, str] = {}
    with tqdm(files, desc="reading", unit="file", disable=quiet) as bar:
        for item in bar:
            sha = item.sha256()
            if kb.is_current(item.source, sha):
                continue
            pending.extend(read_file(item, modality))
            hashes[item.source] = sha
            if len(hashes) >= _FILES_PER_COMMIT:
                added += kb.add_documents(pending, sources=hashes, progress=progress)
                pending, hashes = [], {}
                embed_bar.reset()
        if hashes:
            added += kb.add_documents(pending, sources=hashes, progress=progress)
    embed_bar.close()
    return added


def cmd_build(args: argparse.Namespace) -> int:
    """Build a fresh knowledge base beside the old one, then swap it in."""
    target = _kb_dir(args)
    if target.exists() and any(target.iterdir()) and not args.rebuild:
        raise InputError(f"{target} already holds a knowledge base; use `index add`, or --rebuild")
    staging = target.with_name(target.name + ".building")
    shutil.rmtree(staging, ignore_errors=True)
    kb = KnowledgeBase(staging, _config(args))
    try:
        added = _ingest(kb, args.sources, args.modality, args.quiet)
        stats = kb.stats()
    finally:
        kb.close()
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    staging.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    _out(
        f"built {target}: {added} passages from {stats.sources} files "
        f"({stats.index_kind} index, searched on {stats.search_device})"
    )
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    """Add new or changed files to an existing knowledge base (no rebuild)."""
    kb = KnowledgeBase(_kb_dir(args), _config(args))
    try:
        added = _ingest(kb, args.sources, args.modality, args.quiet)
        total = kb.stats().chunks
    finally:
        kb.close()
    _out(f"added {added} passages; {total} in total")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    """Print the best passages for a query."""
    kb = KnowledgeBase(_kb_dir(args), _config(args))
    try:
        filters = Filters(modality=args.modality, section=args.section)
        hits = kb.search(args.query, args.k, mode=args.mode, filters=filters)
    finally:
        kb.close()
    if args.json:
        rows: list[dict[str, Any]] = [
            {**asdict(h.chunk), "score": h.score, "ranks": h.ranks} for h in hits
        ]
        _out(json.dumps(rows, ensure_ascii=False, indent=2))
    elif not hits:
        _out("no passage matched")
    for n, hit in enumerate([] if args.json else hits, start=1):
        c = hit.chunk
        _out(f"[{n}] {c.citation_id}  {c.source} · {c.section}  score={hit.score:.4f}")
        _out(f"    {c.text[:300]}")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    """Print counts and settings of a knowledge base."""
    kb = KnowledgeBase(_kb_dir(args), _config(args))
    try:
        stats = kb.stats()
    finally:
        kb.close()
    if args.json:
        _out(json.dumps(asdict(stats), indent=2))
    else:
        for key, value in asdict(stats).items():
            _out(f"{key:>14}: {value}")
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kb", type=Path, help="knowledge-base folder (default <data_dir>/knowledge)")
    p.add_argument("--retrieval-config", type=Path, help="YAML (default configs/retrieval.yaml)")


def _sources(p: argparse.ArgumentParser) -> None:
    p.add_argument("sources", type=Path, nargs="+", help="files or folders to ingest")
    p.add_argument("--modality", type=Modality, choices=list(Modality), help="default modality")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def add_index_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``index build|add|search|stats`` to the `medassist` command."""
    index = subparsers.add_parser("index", help="build, update and search the knowledge base")
    sub = index.add_subparsers(dest="index_command", required=True, metavar="ACTION")

    p = sub.add_parser("build", help="build a knowledge base from folders of documents")
    _common(p)
    _sources(p)
    p.add_argument("--rebuild", action="store_true", help="replace an existing knowledge base")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("add", help="add new or changed files to the knowledge base")
    _common(p)
    _sources(p)
    p.set_defaults(func=cmd_add)

    p = sub.add_parser("search", help="search the knowledge base")
    _common(p)
    p.add_argument("query")
    p.add_argument("-k", type=int, default=5, help="passages to show (default 5)")
    p.add_argument("--mode", choices=["hybrid", "dense", "bm25"], default="hybrid")
    p.add_argument("--section", type=Section, choices=list(Section))
    p.add_argument("--modality", type=Modality, choices=list(Modality))
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("stats", help="counts and settings of the knowledge base")
    _common(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_stats)
