"""Every reader on a tiny generated fixture in its format."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from assistant.eval.readers import read_suite
from assistant.eval.suite import available_suites, load_suite
from tests.assistant.eval import fixtures
from tools.errors import ConfigError, InputError


def test_every_suite_file_validates_and_names_its_layout() -> None:
    suites = available_suites()
    assert {
        "tooluse",
        "vqa_rad",
        "slake",
        "pathvqa",
        "multipathqa",
        "iu_xray",
        "chestagentbench",
    } <= set(suites)
    assert all(s.layout.strip() and s.description for s in suites.values())
    with pytest.raises(ConfigError, match=r"unknown evaluation suite 'vqarad'.*vqa_rad"):
        load_suite("vqarad")


def test_vqa_rad_closed_open_and_missing_images(tmp_path: Path) -> None:
    read = read_suite(fixtures.vqa_rad(tmp_path), load_suite("vqa_rad"))
    assert [(i.id, i.answer_type, i.category) for i in read.items] == [
        ("1", "closed", "closed"),
        ("2", "open", "open"),
    ]
    assert read.missing_images == 1
    assert read.items[1].gold == "On the left"
    assert read.items[0].images == (tmp_path / "images" / "a.jpg",)


def test_slake_keeps_english_questions(tmp_path: Path) -> None:
    read = read_suite(fixtures.slake(tmp_path), load_suite("slake"))
    assert [(i.id, i.answer_type, i.gold) for i in read.items] == [
        ("10", "open", "CT"),
        ("11", "closed", "No"),
    ]


def test_pathvqa_pickle_is_data_only(tmp_path: Path) -> None:
    read = read_suite(fixtures.pathvqa(tmp_path), load_suite("pathvqa"))
    assert [i.answer_type for i in read.items] == ["closed", "open"]
    assert read.items[0].images[0].name == "test_0001.jpg"
    evil = tmp_path / "qas" / "test" / "test_qa.pkl"
    evil.write_bytes(pickle.dumps([{"image": Path("x"), "question": "q", "answer": "a"}]))
    with pytest.raises(InputError, match="refusing to load"):
        read_suite(tmp_path, load_suite("pathvqa"))


def test_multipathqa_tasks_metrics_and_options(tmp_path: Path) -> None:
    read = read_suite(fixtures.multipathqa(tmp_path), load_suite("multipathqa"))
    by_task = {i.category: i for i in read.items}
    assert read.missing_images == 1
    gtex = by_task["gtex"]
    assert gtex.gold == "2" and gtex.balanced and gtex.choice_labels == "numbers"
    assert "1. Heart\n2. Lung" in gtex.question and '{"answer": YOUR_ANSWER}' in gtex.question
    assert by_task["tcga"].gold == "2" and "3. BRCA" in by_task["tcga"].question
    panda = by_task["panda"]
    assert (
        panda.answer_type == "grade" and panda.gold == "3" and '{"isup_grade": N}' in panda.question
    )
    bench = by_task["tcga_slidebench"]
    assert not bench.balanced and "Select from the following options:\n1. 2\n2. 3" in bench.question


@pytest.mark.parametrize("archive", [True, False])
def test_iu_xray_reports_from_tgz_or_folder(tmp_path: Path, archive: bool) -> None:
    read = read_suite(fixtures.iu_xray(tmp_path, archive), load_suite("iu_xray"))
    assert read.missing_images == 1
    (item,) = read.items
    assert item.answer_type == "report" and item.id == "1"
    assert item.gold == "FINDINGS: Heart size normal. No effusion.\nIMPRESSION: Normal chest."
    assert item.images == (tmp_path / "images" / "CXR1_1_IM-0001-3001.png",)


def test_chestagentbench_cases_and_choices(tmp_path: Path) -> None:
    read = read_suite(fixtures.chestagentbench(tmp_path), load_suite("chestagentbench"))
    assert [(i.id, i.case_id, i.gold, i.category) for i in read.items] == [
        ("c1_q1", "c1", "C", "detection"),
        ("c1_q2", "c1", "A", "localization"),
        ("c2_q1", "c2", "F", "diagnosis"),
    ]
    assert read.items[0].choices == tuple(f"option {c}" for c in "ABCDEF")
    assert load_suite("chestagentbench").session == "case"


def test_jsonl_items_resolve_paths_and_reject_bad_lines(tmp_path: Path) -> None:
    fixtures.png(tmp_path / "files" / "a.png")
    row = {
        "id": "x",
        "question": "q",
        "gold": "3",
        "answer_type": "number",
        "images": ["files/a.png"],
    }
    (tmp_path / "items.jsonl").write_text(json.dumps(row) + "\n")
    (item,) = read_suite(tmp_path, load_suite("tooluse")).items
    assert item.images == (tmp_path / "files" / "a.png",)
    (tmp_path / "items.jsonl").write_text(json.dumps(row | {"answer_type": "essay"}) + "\n")
    with pytest.raises(InputError, match="line 1 is not a valid item"):
        read_suite(tmp_path, load_suite("tooluse"))


def test_missing_data_says_what_layout_is_expected(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"questions not found.*vqa_rad_testset\.json"):
        read_suite(tmp_path, load_suite("vqa_rad"))
    (tmp_path / "vqa_rad_testset.json").write_text(
        json.dumps([{"qid": 1, "image_name": "no.jpg", "question": "q", "answer": "yes"}])
    )
    with pytest.raises(InputError, match=r"no runnable items.*1 left out for missing images"):
        read_suite(tmp_path, load_suite("vqa_rad"))
