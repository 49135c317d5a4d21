"""Reading reports, documents and reference cases from the formats users have."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from retrieval.ingest import SourceFile, discover, read_file
from retrieval.types import Modality, Section
from tools.errors import InputError

OPENI = """<?xml version="1.0" encoding="utf-8"?>
<eCitation><uId id="CXR9"/>
<MedlineCitation><Article><Journal><JournalIssue><PubDate>
<Year>2013</Year><Month>08</Month><Day>01</Day></PubDate></JournalIssue></Journal>
<Abstract>
<AbstractText Label="COMPARISON">None.</AbstractText>
<AbstractText Label="INDICATION">Cough.</AbstractText>
<AbstractText Label="FINDINGS">Small left effusion. Heart normal.</AbstractText>
<AbstractText Label="IMPRESSION">Left effusion.</AbstractText>
</Abstract></Article></MedlineCitation>
<parentImage id="CXR9_IM-1-1001"/></eCitation>
"""
FONT = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"


def minimal_pdf(pages: list[str]) -> bytes:
    """A valid PDF with one line of Helvetica text per page (written by hand, no library)."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", ""]
    kids = []
    for text in pages:
        stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
        page_no = len(objects) + 1
        kids.append(f"{page_no} 0 R")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {page_no + 1} 0 R "
            f"/Resources << /Font << /F1 {FONT} >> >> >>"
        )
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream.decode()}\nendstream")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>"
    out = b"%PDF-1.4\n"
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return out


def _one(path: Path, **kw: Modality) -> list:  # type: ignore[type-arg]
    return read_file(SourceFile(path, path.name), **kw)


def test_openi_xml_report(tmp_path: Path) -> None:
    path = tmp_path / "9.xml"
    path.write_text(OPENI, encoding="utf-8")
    (doc,) = _one(path)
    assert doc.kind == "report" and doc.modality == Modality.XRAY and doc.date == "2013-08-01"
    assert doc.doc_key == "CXR9" and "CXR9_IM-1-1001" in doc.title
    assert doc.sections == (
        (Section.COMPARISON, "None."),
        (Section.INDICATION, "Cough."),
        (Section.FINDINGS, "Small left effusion. Heart normal."),
        (Section.IMPRESSION, "Left effusion."),
    )


def test_plain_text_report_and_document(tmp_path: Path) -> None:
    report = tmp_path / "r.txt"
    report.write_text("FINDINGS: Clear lungs.\nIMPRESSION: Normal.", encoding="utf-8")
    note = tmp_path / "n.txt"
    note.write_bytes("Notiz über Röntgen.".encode("latin-1"))  # not UTF-8: falls back
    (r,) = _one(report, modality=Modality.XRAY)
    assert r.kind == "report" and r.modality == Modality.XRAY
    assert [s for s, _ in r.sections] == [Section.FINDINGS, Section.IMPRESSION]
    (n,) = _one(note)
    assert n.kind == "document" and n.sections == ((Section.BODY, "Notiz über Röntgen."),)


def test_markdown_headings_become_documents(tmp_path: Path) -> None:
    path = tmp_path / "guide.md"
    path.write_text(
        "Intro line.\n# Effusion\nFluid in the pleural space.\n## Impression\nLikely benign.\n"
        "# Empty\n",
        encoding="utf-8",
    )
    docs = _one(path)
    assert [(d.title, d.kind, d.sections) for d in docs] == [
        ("guide", "document", ((Section.BODY, "Intro line."),)),
        ("Effusion", "document", ((Section.BODY, "Fluid in the pleural space."),)),
        ("Impression", "report", ((Section.IMPRESSION, "Likely benign."),)),
    ]


def test_json_and_jsonl_records(tmp_path: Path) -> None:
    jsonl = tmp_path / "r.jsonl"
    jsonl.write_text(
        json.dumps(
            {
                "id": "a1",
                "findings": "Mass.",
                "impression": "Tumour.",
                "modality": "CT",
                "date": "2024-01-02",
            }
        )
        + "\n\n"
        + json.dumps({"text": "Plain note."})
        + "\n",
        encoding="utf-8",
    )
    a, b = _one(jsonl)
    assert (a.doc_key, a.modality, a.date, a.kind) == ("a1", Modality.CT, "2024-01-02", "report")
    assert a.sections == ((Section.FINDINGS, "Mass."), (Section.IMPRESSION, "Tumour."))
    assert (b.doc_key, b.kind, b.modality) == ("1", "document", None)
    wrapped = tmp_path / "w.json"
    wrapped.write_text(json.dumps({"documents": [{"report": "IMPRESSION: ok."}]}), encoding="utf-8")
    assert _one(wrapped)[0].sections == ((Section.IMPRESSION, "ok."),)


def test_bad_json_is_an_input_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad\.json is not valid JSON"):
        _one(bad)
    odd = tmp_path / "odd.json"
    odd.write_text(json.dumps([{"text": "x", "modality": "sonar"}]), encoding="utf-8")
    with pytest.raises(InputError, match="unknown modality 'sonar'; valid: xray, ct"):
        _one(odd)
    broken = tmp_path / "b.xml"
    broken.write_text("<eCitation>", encoding="utf-8")
    with pytest.raises(InputError, match="not well-formed XML"):
        _one(broken)


def test_pdf_pages(tmp_path: Path) -> None:
    path = tmp_path / "guide.pdf"
    path.write_bytes(minimal_pdf(["Pneumothorax needs urgent review.", "Second page text."]))
    docs = _one(path)
    assert [d.doc_key for d in docs] == ["p1", "p2"]
    assert docs[0].title == "guide, page 1"
    assert "Pneumothorax needs urgent review." in docs[0].sections[0][1]
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 garbage")
    with pytest.raises(InputError, match=r"cannot read PDF broken\.pdf"):
        _one(broken)


def test_image_report_pairs_and_discovery(tmp_path: Path) -> None:
    (tmp_path / "cases").mkdir()
    (tmp_path / "cases" / "c1.png").write_bytes(b"\x89PNG fake")
    (tmp_path / "cases" / "c1.txt").write_text("IMPRESSION: Pneumonia.", encoding="utf-8")
    (tmp_path / "notes.md").write_text("Text.", encoding="utf-8")
    (tmp_path / "ignored.csv").write_text("a,b", encoding="utf-8")
    found = discover(tmp_path)
    assert [(f.source, f.image is not None) for f in found] == [
        ("cases/c1.txt", True),
        ("notes.md", False),
    ]
    (case,) = read_file(found[0])
    assert case.kind == "case" and case.image_path == (tmp_path / "cases" / "c1.png").as_posix()
    assert discover(tmp_path / "notes.md")[0].source == "notes.md"
    with pytest.raises(InputError, match="neither a file nor a folder"):
        discover(tmp_path / "missing")


def test_shipped_knowledge_corpus_is_searchable(tmp_path: Path) -> None:
    from assistant.config import REPO_ROOT
    from retrieval.embeddings import HashingEmbedder
    from retrieval.ingest import iter_documents
    from retrieval.knowledge import KnowledgeBase

    corpus = REPO_ROOT / "configs" / "knowledge"
    docs = [d for _, found in iter_documents(corpus) for d in found]
    for path in corpus.glob("*.md"):  # our own text, and it says so
        assert "written for MedAssist" in path.read_text(encoding="utf-8"), path.name
    kb = KnowledgeBase(tmp_path / "kb", embedder=HashingEmbedder(256))
    try:
        kb.add_documents(docs)
        hit = kb.search("blunted costophrenic angle meniscus", 1)[0]
        assert hit.chunk.source == "pleural-effusion.md"
        assert kb.search("haematoxylin eosin stain", 1)[0].chunk.source == "pathology-slide.md"
    finally:
        kb.close()
