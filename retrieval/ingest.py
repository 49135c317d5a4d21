"""Read the folders users already have into `Document`s.

Formats: plain text, Markdown, JSON / JSONL records, Open-i XML radiology reports (the
IU chest X-ray collection), PDF (text layer via pypdf), and reference cases: an image
with a report file of the same name beside it (``case7.png`` + ``case7.txt``).
"""

from __future__ import annotations

import hashlib
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from retrieval.chunking import section_for_heading, split_sections
from retrieval.types import Document, Modality, Section
from tools.errors import InputError

__all__ = ["IMAGE_SUFFIXES", "TEXT_SUFFIXES", "SourceFile", "discover", "read_file"]

TEXT_SUFFIXES = (".txt", ".md", ".markdown", ".json", ".jsonl", ".xml", ".pdf")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".dcm", ".tif", ".tiff", ".bmp")
_REPORT_FOR_IMAGE = (".txt", ".json", ".md")
_MD_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
_JSON_SECTIONS = {s.value: s for s in Section if s != Section.BODY}
_JSON_TEXT_KEYS = ("text", "report", "body", "content")


@dataclass(frozen=True)
class SourceFile:
    """A file to ingest: where it is, its name in the base, and an optional paired image."""

    path: Path
    source: str
    image: Path | None = None

    def sha256(self) -> str:
        """Content hash (report and paired image), to skip unchanged files on `add`."""
        digest = hashlib.sha256(self.path.read_bytes())
        if self.image is not None:
            digest.update(self.image.read_bytes())
        return digest.hexdigest()


def discover(root: Path) -> list[SourceFile]:
    """Supported files under `root` (or `root` itself), report+image pairs joined."""
    if root.is_file():
        return [SourceFile(root, root.name, _paired_image(root))]
    if not root.is_dir():
        raise InputError(f"{root} is neither a file nor a folder")
    out: list[SourceFile] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.suffix.lower() in TEXT_SUFFIXES and not path.name.startswith("."):
            out.append(SourceFile(path, path.relative_to(root).as_posix(), _paired_image(path)))
    return out


def _paired_image(report: Path) -> Path | None:
    if report.suffix.lower() not in _REPORT_FOR_IMAGE:
        return None
    for suffix in IMAGE_SUFFIXES:
        for candidate in (report.with_suffix(suffix), report.with_suffix(suffix.upper())):
            if candidate.is_file():
                return candidate
    return None


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def read_file(item: SourceFile, modality: Modality | None = None) -> list[Document]:
    """Documents in one file; a paired image makes its report a reference case."""
    suffix = item.path.suffix.lower()
    if suffix == ".xml":
        docs = _openi_xml(item)
    elif suffix == ".pdf":
        docs = _pdf(item)
    elif suffix in (".json", ".jsonl"):
        docs = _json(item, modality)
    elif suffix in (".md", ".markdown"):
        docs = _markdown(item)
    elif suffix == ".txt":
        docs = [_text_document(item.source, "", _read_text(item.path))]
    else:
        raise InputError(
            f"cannot ingest {item.path.name}: unsupported type {suffix!r}; "
            f"supported: {', '.join(TEXT_SUFFIXES)}"
        )
    docs = [d if d.modality or modality is None else replace(d, modality=modality) for d in docs]
    if item.image is not None:
        image = item.image.resolve().as_posix()
        docs = [replace(d, kind="case", image_path=image) for d in docs]
    return [d for d in docs if any(text.strip() for _, text in d.sections)]


def _text_document(source: str, key: str, text: str, title: str = "") -> Document:
    sections = split_sections(text)
    is_report = any(s != Section.BODY for s, _ in sections)
    return Document(
        source=source,
        kind="report" if is_report else "document",
        sections=tuple(sections),
        title=title,
        doc_key=key,
    )


def _markdown(item: SourceFile) -> list[Document]:
    text = _read_text(item.path)
    headings = list(_MD_HEADING.finditer(text))
    docs: list[Document] = []
    preamble = text[: headings[0].start()] if headings else text
    if preamble.strip():
        docs.append(_text_document(item.source, "", preamble, item.path.stem))
    for i, match in enumerate(headings):
        end = headings[i + 1].start() if i + 1 < len(headings) else len(text)
        body = text[match.end() : end].strip()
        title = match.group(2).strip()
        if not body:
            continue
        section = section_for_heading(title)
        if section is not None:
            doc = Document(item.source, "report", ((section, body),), title, doc_key=f"h{i}")
        else:
            doc = _text_document(item.source, f"h{i}", body, title)
        docs.append(doc)
    return docs


def _json_record(source: str, key: str, record: Any, modality: Modality | None) -> Document:
    if not isinstance(record, dict):
        raise InputError(f"{source} record {key}: expected an object, got {type(record).__name__}")
    sections = [
        (_JSON_SECTIONS[k.lower()], str(v))
        for k, v in record.items()
        if k.lower() in _JSON_SECTIONS and v
    ]
    text = next((str(record[k]) for k in _JSON_TEXT_KEYS if record.get(k)), "")
    doc = _text_document(source, str(record.get("id", key)), text, str(record.get("title", "")))
    if sections:
        doc = replace(doc, kind="report", sections=tuple(sections) + doc.sections)
    raw_modality = record.get("modality")
    try:
        found = Modality(str(raw_modality).lower()) if raw_modality else modality
    except ValueError:
        valid = ", ".join(m.value for m in Modality)
        raise InputError(
            f"{source} record {key}: unknown modality {raw_modality!r}; valid: {valid}"
        ) from None
    date = record.get("date")
    return replace(doc, modality=found, date=str(date) if date else None)


def _json(item: SourceFile, modality: Modality | None) -> list[Document]:
    text = _read_text(item.path)
    try:
        if item.path.suffix.lower() == ".jsonl":
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            data = json.loads(text)
            records = data.get("documents", [data]) if isinstance(data, dict) else data
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{item.source} is not valid JSON: {exc.msg} (line {exc.lineno})"
        ) from None
    if not isinstance(records, list):
        raise InputError(f"{item.source}: expected a list of records or {{'documents': [...]}}")
    return [_json_record(item.source, str(i), r, modality) for i, r in enumerate(records)]


def _openi_xml(item: SourceFile) -> list[Document]:
    try:
        root = ET.fromstring(item.path.read_bytes())
    except ET.ParseError as exc:
        raise InputError(f"{item.source} is not well-formed XML: {exc}") from None
    sections: list[tuple[Section, str]] = []
    for node in root.iter("AbstractText"):
        section = section_for_heading(node.get("Label", ""))
        if section is not None and (node.text or "").strip():
            sections.append((section, node.text or ""))
    if not sections:
        return []
    uid = root.find("uId")
    key = uid.get("id", "") if uid is not None else ""
    date_parts = [root.findtext(f".//PubDate/{p}") for p in ("Year", "Month", "Day")]
    date = "-".join(p for p in date_parts if p) or None
    images = [n.get("id", "") for n in root.iter("parentImage")]
    title = f"{key} ({', '.join(images)})" if images else key
    return [Document(item.source, "report", tuple(sections), title, Modality.XRAY, date, None, key)]


def _pdf(item: SourceFile) -> list[Document]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(item.path)
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, OSError, ValueError) as exc:
        raise InputError(f"cannot read PDF {item.source}: {exc}") from None
    title = item.path.stem
    return [
        _text_document(item.source, f"p{n}", text, f"{title}, page {n}")
        for n, text in enumerate(pages, start=1)
        if text.strip()
    ]


def iter_documents(
    root: Path, modality: Modality | None = None
) -> Iterator[tuple[SourceFile, list[Document]]]:
    """Each supported file under `root` with its documents."""
    for item in discover(root):
        yield item, read_file(item, modality)
