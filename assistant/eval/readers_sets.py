"""Readers for MultiPathQA (GIANT), IU X-ray Open-i reports and ChestAgentBench."""

from __future__ import annotations

import ast
import csv
import json
import re
import tarfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from assistant.eval.items import EvalItem
from assistant.eval.loaded import ReadResult, keep_available, need
from assistant.eval.suite import SuiteSpec
from tools.errors import InputError

_OPTIONS_TAIL = (
    "\n\nSelect from the following options:\n{options}\n\n"
    "Please choose the number of the correct option."
)


def _options(raw: str) -> list[str]:
    if not raw.strip():
        return []
    try:
        value = ast.literal_eval(raw)  # a Python list literal, as the dataset card says
    except (ValueError, SyntaxError) as exc:
        raise InputError(f"MultiPathQA options are not a list literal: {raw[:80]!r}") from exc
    return [str(v) for v in value]


def _multipathqa_item(row: dict[str, str], slides: Path) -> EvalItem:
    task = row["benchmark_name"]
    options = _options(row.get("options", ""))
    template = row["prompt"]
    if options and "{options}" not in template:  # SlideBench and ExpertVQA rows
        template += _OPTIONS_TAIL
    listing = "\n".join(f"{i + 1}. {o}" for i, o in enumerate(options))
    question = template.replace("{options}", listing).replace("{{", "{").replace("}}", "}")
    balanced = row.get("metric_type") == "balanced_accuracy"
    common: dict[str, Any] = {
        "id": f"{task}:{row['benchmark_id']}",
        "question": question.strip(),
        "images": (slides / row["image_path"],),
        "category": task,
        "balanced": balanced,
        "meta": {"file_id": row.get("file_id"), "metric": row.get("metric_type")},
    }
    if task == "panda" or not options:
        return EvalItem(gold=row["answer"].strip(), answer_type="grade", **common)
    answer = row["answer"].strip()
    gold = answer if answer.isdigit() else str(options.index(answer) + 1)
    return EvalItem(
        gold=gold, answer_type="choice", choices=tuple(options), choice_labels="numbers", **common
    )


def read_multipathqa(data: Path, spec: SuiteSpec) -> ReadResult:
    """MultiPathQA.csv of the GIANT paper; slides under the `slides` folder by image_path."""
    path = need(data / spec.file("questions", "MultiPathQA.csv"), "questions", spec.layout)
    slides = data / spec.file("slides", "slides")
    with path.open(newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r.get("is_valid", "True") != "False"]
    return keep_available((_multipathqa_item(r, slides) for r in rows), [path])


def _report_xml(data: Path, spec: SuiteSpec) -> Iterator[tuple[str, bytes]]:
    folder = data / spec.file("reports", "ecgen-radiology")
    if folder.is_dir():
        for file in sorted(folder.glob("*.xml")):
            yield file.name, file.read_bytes()
        return
    archive = data / spec.file("archive", "NLMCXR_reports.tgz")
    renamed = sorted(data.glob("*NLMCXR_reports.tgz"))  # e.g. a copy with a prefix
    archive = need(
        archive if archive.exists() or not renamed else renamed[0], "reports", spec.layout
    )
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.endswith(".xml"):
                handle = tar.extractfile(member)
                if handle is not None:
                    yield Path(member.name).name, handle.read()


def _iu_item(name: str, xml: bytes, images: Path) -> EvalItem | None:
    root = ET.fromstring(xml)
    sections = {
        (el.get("Label") or "").upper(): (el.text or "").strip() for el in root.iter("AbstractText")
    }
    findings, impression = sections.get("FINDINGS", ""), sections.get("IMPRESSION", "")
    ids = [el.get("id") for el in root.iter("parentImage") if el.get("id")]
    if not (findings or impression) or not ids:
        return None
    gold = f"FINDINGS: {findings}\nIMPRESSION: {impression}".strip()
    return EvalItem(
        id=Path(name).stem,
        question="Write the findings and impression of the radiology report for this chest "
        "X-ray study.",
        gold=gold,
        answer_type="report",
        images=tuple(images / f"{i}.png" for i in ids[:2]),
        category="report",
        meta={"findings": findings, "impression": impression},
    )


def read_iu_xray(data: Path, spec: SuiteSpec) -> ReadResult:
    """IU X-ray (Open-i) ecgen-radiology XML (folder or the .tgz); PNGs in `images`."""
    images = data / spec.file("images", "images")
    items = []
    for name, xml in _report_xml(data, spec):
        try:
            item = _iu_item(name, xml, images)
        except ET.ParseError as exc:
            raise InputError(f"report {name} is not valid XML: {exc}") from exc
        if item is not None:
            items.append(item)
    items.sort(key=lambda i: int(i.id) if i.id.isdigit() else 0)
    return keep_available(items, [data / spec.file("archive", "NLMCXR_reports.tgz")])


_CHOICE_LINE = re.compile(r"^\s*\(?([A-F])[).:]\s*(.+)$", re.MULTILINE)


def read_chestagentbench(data: Path, spec: SuiteSpec) -> ReadResult:
    """ChestAgentBench metadata.jsonl: six-choice questions, images relative to the folder."""
    path = need(data / spec.file("questions", "metadata.jsonl"), "questions", spec.layout)
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path} line {number}: {exc}") from exc
        question = str(row["question"])
        choices = tuple(text.strip() for _, text in _CHOICE_LINE.findall(question))
        categories = row.get("categories") or "all"
        if isinstance(categories, str):
            categories = [c.strip() for c in categories.split(",") if c.strip()]
        items.append(
            EvalItem(
                id=str(row.get("full_question_id") or row.get("question_id") or number),
                question=question,
                gold=str(row["answer"]).strip().upper()[:1],
                answer_type="choice",
                choices=choices or tuple("ABCDEF"),
                images=tuple(data / p for p in row.get("images", [])),
                category=str(categories[0]) if categories else "all",
                case_id=str(row["case_id"]) if row.get("case_id") is not None else None,
                meta={"categories": categories},
            )
        )
    return keep_available(items, [path])
