"""Chunking keeps report sections whole and splits only long text, at sentence ends."""

from __future__ import annotations

from retrieval.chunking import chunk_document, split_sections, split_sentences
from retrieval.types import Document, Section


def test_split_sections_of_a_plain_text_report() -> None:
    text = (
        "Chest, two views.\nINDICATION: cough.\nFindings: Lungs clear.\n  No effusion.\n"
        "IMPRESSION:\nNormal chest.\nRecommendation: none."
    )
    assert split_sections(text) == [
        (Section.BODY, "Chest, two views."),
        (Section.INDICATION, "cough."),
        (Section.FINDINGS, "Lungs clear.\n  No effusion."),
        (Section.IMPRESSION, "Normal chest."),
        (Section.RECOMMENDATIONS, "none."),
    ]
    assert split_sections("Just prose, no headings.") == [
        (Section.BODY, "Just prose, no headings.")
    ]


def test_sections_stay_whole_and_never_merge() -> None:
    doc = Document(
        "r.txt",
        "report",
        ((Section.FINDINGS, "Heart normal.  Lungs clear."), (Section.IMPRESSION, "Normal.")),
    )
    chunks = chunk_document(doc, max_words=50)
    assert [(c.section, c.text, c.position) for c in chunks] == [
        (Section.FINDINGS, "Heart normal. Lungs clear.", 0),
        (Section.IMPRESSION, "Normal.", 1),
    ]


def test_long_section_splits_at_sentence_boundaries() -> None:
    sentences = [f"Finding number {i} is stable." for i in range(30)]
    doc = Document("r.txt", "report", ((Section.FINDINGS, " ".join(sentences)),))
    chunks = chunk_document(doc, max_words=12)
    assert all(len(c.text.split()) <= 12 for c in chunks)
    assert [s for c in chunks for s in split_sentences(c.text)] == sentences
    assert {c.section for c in chunks} == {Section.FINDINGS}
    assert len({c.citation_id for c in chunks}) == len(chunks)


def test_overlong_sentence_and_cjk_text_are_cut() -> None:
    words = " ".join(["word"] * 25)
    long_cjk = "肺" * 300
    doc = Document("x.txt", "document", ((Section.BODY, words), (Section.IMPRESSION, long_cjk)))
    chunks = chunk_document(doc, max_words=10)
    body = [c.text for c in chunks if c.section == Section.BODY]
    assert [len(t.split()) for t in body] == [10, 10, 5]
    cjk = [c.text for c in chunks if c.section == Section.IMPRESSION]
    assert "".join(cjk) == long_cjk and all(len(t) <= 40 for t in cjk)
    assert split_sentences("右下肺炎。未见气胸。") == ["右下肺炎。", "未见气胸。"]


def test_empty_sections_give_no_chunks() -> None:
    doc = Document("e.txt", "document", ((Section.BODY, "   \n "),))
    assert chunk_document(doc) == []
