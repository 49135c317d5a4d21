"""`medassist index build|add|search|stats` through argparse, with the hashing embedder."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from assistant.index_cli import add_index_commands
from tools.errors import InputError


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="medassist")
    add_index_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, list[str]]:
    config = tmp_path / "retrieval.yaml"
    config.write_text("embedder: {kind: hashing, dim: 64}\n", encoding="utf-8")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("FINDINGS: Left effusion.\nIMPRESSION: Effusion.", encoding="utf-8")
    (docs / "b.jsonl").write_text(
        json.dumps({"impression": "Right pneumothorax.", "modality": "xray"}) + "\n",
        encoding="utf-8",
    )
    return docs, ["--kb", str(tmp_path / "kb"), "--retrieval-config", str(config)]


def test_build_add_search_stats(
    setup: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    docs, common = setup
    assert _run(["index", "build", str(docs), "-q", *common]) == 0
    assert "3 passages from 2 files (flat index, searched on CPU)" in capsys.readouterr().out
    with pytest.raises(InputError, match="already holds a knowledge base"):
        _run(["index", "build", str(docs), "-q", *common])

    assert _run(["index", "add", str(docs), "-q", *common]) == 0
    assert "added 0 passages; 3 in total" in capsys.readouterr().out  # nothing changed
    (docs / "c.md").write_text("# Note\nPneumothorax needs review.", encoding="utf-8")
    assert _run(["index", "add", str(docs), "-q", *common]) == 0
    assert "added 1 passages; 4 in total" in capsys.readouterr().out

    assert _run(["index", "search", "pneumothorax", "--mode", "bm25", "--json", *common]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["source"] for r in rows} == {"b.jsonl", "c.md"}
    assert _run(["index", "search", "effusion", "--section", "impression", *common]) == 0
    out = capsys.readouterr().out
    assert out.startswith("[1] kb-") and "a.txt · impression" in out and "findings" not in out
    assert _run(["index", "search", "zebra", "--mode", "bm25", *common]) == 0
    assert capsys.readouterr().out == "no passage matched\n"

    assert _run(["index", "stats", "--json", *common]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert (stats["chunks"], stats["sources"], stats["embedder"]) == (4, 3, "hashing-64")


def test_rebuild_replaces_the_base(
    setup: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    docs, common = setup
    _run(["index", "build", str(docs), "-q", *common])
    (docs / "a.txt").unlink()
    assert _run(["index", "build", str(docs), "--rebuild", "-q", *common]) == 0
    kb_dir = Path(common[1])
    assert sorted(p.name for p in kb_dir.parent.iterdir() if p.name.startswith("kb")) == ["kb"]
    _run(["index", "stats", *common])
    assert "chunks: 1" in capsys.readouterr().out
