"""Readers for VQA formats: VQA-RAD, SLAKE, PathVQA, and our own JSONL of items."""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from assistant.eval.items import EvalItem
from assistant.eval.loaded import ReadResult, keep_available, need
from assistant.eval.suite import SuiteSpec
from tools.errors import InputError


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} is not valid JSON: {exc}") from exc


def _closed_or_open(value: str | None, answer: str) -> str:
    if value:
        return "closed" if value.strip().upper() == "CLOSED" else "open"
    return "closed" if answer.strip().lower() in ("yes", "no") else "open"


def _vqa_item(
    item_id: object,
    row: dict[str, Any],
    image: Path,
    answer_type: str | None = None,
    meta: dict[str, Any] | None = None,
) -> EvalItem:
    """One question of a VQA set: closed (yes/no or so marked) or open, by its category."""
    answer = str(row["answer"])
    kind = _closed_or_open(answer_type, answer)
    return EvalItem(
        id=str(item_id),
        question=str(row["question"]),
        gold=answer,
        answer_type="closed" if kind == "closed" else "open",
        images=(image,),
        category=kind,
        meta=meta or {},
    )


def read_vqa_rad(data: Path, spec: SuiteSpec) -> ReadResult:
    """VQA-RAD test JSON (qid, image_name, question, answer, answer_type, image_organ)."""
    path = need(data / spec.file("questions", "vqa_rad_testset.json"), "questions", spec.layout)
    images = data / spec.file("images", "images")
    items = []
    for row in _load_json(path):
        meta = {"organ": row.get("image_organ"), "type": row.get("question_type")}
        image = images / str(row["image_name"])
        items.append(_vqa_item(row["qid"], row, image, row.get("answer_type"), meta))
    return keep_available(items, [path])


def read_slake(data: Path, spec: SuiteSpec) -> ReadResult:
    """SLAKE test JSON (qid, img_name, question, answer, answer_type, q_lang, content_type)."""
    path = need(data / spec.file("questions", "slake_test.json"), "questions", spec.layout)
    images = data / spec.file("images", "imgs")
    items = []
    for row in _load_json(path):
        if spec.language and row.get("q_lang") != spec.language:
            continue
        meta = {"modality": row.get("modality"), "content": row.get("content_type")}
        image = images / str(row["img_name"])
        items.append(_vqa_item(row["qid"], row, image, row.get("answer_type"), meta))
    return keep_available(items, [path])


class _DataOnly(pickle.Unpickler):
    """Unpickles plain lists, dicts and strings only: a data file must not run code."""

    def find_class(self, module: str, name: str) -> Any:
        raise InputError(f"refusing to load {module}.{name} from a pickle: data only")


def _pathvqa_rows(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".pkl":
        rows = _DataOnly(io.BytesIO(path.read_bytes())).load()
    elif path.suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    else:
        rows = _load_json(path)
    if not isinstance(rows, list):
        raise InputError(f"{path}: expected a list of question records")
    return rows


def read_pathvqa(data: Path, spec: SuiteSpec) -> ReadResult:
    """PathVQA's qas/test/test_qa.pkl (or .json/.jsonl): image, question, answer."""
    path = need(data / spec.file("questions", "qas/test/test_qa.pkl"), "questions", spec.layout)
    images = data / spec.file("images", "images/test")
    items = []
    for i, row in enumerate(_pathvqa_rows(path)):
        name = str(row["image"])
        file = images / (name if Path(name).suffix else f"{name}.jpg")
        items.append(_vqa_item(row.get("id", i), row, file))
    return keep_available(items, [path])


def read_jsonl(data: Path, spec: SuiteSpec) -> ReadResult:
    """Our own format: one EvalItem per line, image paths relative to the data folder."""
    path = need(data / spec.file("items", "items.jsonl"), "items", spec.layout)
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            row["images"] = [str(data / p) for p in row.get("images", [])]
            items.append(EvalItem.model_validate(row))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise InputError(f"{path} line {number} is not a valid item: {exc}") from exc
    return keep_available(items, [path])
