"""Tiny generated datasets in each published format, and a tiny tree shaped like ../shared/data."""

from __future__ import annotations

import csv
import gzip
import io
import json
import pickle
import tarfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image
from pydicom.uid import ExplicitVRLittleEndian

from tests.tools.imaging.factory import ct_phantom, make_dataset, write


def png(path: Path, value: int = 128, size: tuple[int, int] = (32, 24)) -> Path:
    """A small grey PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0]), value, np.uint8)).save(path)
    return path


def vqa_rad(root: Path) -> Path:
    """Three VQA-RAD questions; the third one's image is missing."""
    rows = [
        {
            "qid": 1,
            "image_name": "a.jpg",
            "question": "Is there a mass?",
            "answer": "yes",
            "answer_type": "CLOSED",
            "image_organ": "ABD",
            "question_type": "PRES",
        },
        {
            "qid": 2,
            "image_name": "a.jpg",
            "question": "Where is the spleen?",
            "answer": "On the left",
            "answer_type": "OPEN",
            "image_organ": "ABD",
        },
        {
            "qid": 3,
            "image_name": "gone.jpg",
            "question": "Is it normal?",
            "answer": "no",
            "answer_type": "CLOSED",
        },
    ]
    (root / "vqa_rad_testset.json").parent.mkdir(parents=True, exist_ok=True)
    (root / "vqa_rad_testset.json").write_text(json.dumps(rows))
    png(root / "images" / "a.jpg")
    return root


def slake(root: Path) -> Path:
    """Two English SLAKE questions and one Chinese."""
    rows = [
        {
            "qid": 10,
            "img_name": "xmlab1/source.jpg",
            "question": "What modality is used?",
            "answer": "CT",
            "q_lang": "en",
            "answer_type": "OPEN",
            "modality": "CT",
        },
        {
            "qid": 11,
            "img_name": "xmlab1/source.jpg",
            "question": "Is the lung healthy?",
            "answer": "No",
            "q_lang": "en",
            "answer_type": "CLOSED",
        },
        {
            "qid": 12,
            "img_name": "xmlab1/source.jpg",
            "question": "这是什么?",
            "answer": "CT",
            "q_lang": "zh",
            "answer_type": "OPEN",
        },
    ]
    root.mkdir(parents=True, exist_ok=True)
    (root / "slake_test.json").write_text(json.dumps(rows))
    png(root / "imgs" / "xmlab1" / "source.jpg")
    return root


def pathvqa(root: Path) -> Path:
    """PathVQA's pickle: two questions on one image."""
    rows = [
        {"image": "test_0001", "question": "Is this malignant?", "answer": "yes"},
        {"image": "test_0001", "question": "What stain is used?", "answer": "hematoxylin eosin"},
    ]
    path = root / "qas" / "test" / "test_qa.pkl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(rows))
    png(root / "images" / "test" / "test_0001.jpg")
    return root


MULTIPATHQA_HEADER = [
    "benchmark_name",
    "benchmark_id",
    "image_path",
    "answer",
    "options",
    "image_exists",
    "patch_exists",
    "is_valid",
    "metric_type",
    "file_id",
    "prompt",
]


def multipathqa(root: Path) -> Path:
    """One row per task shape: GTEx (label answer), TCGA (index), PANDA (grade), SlideBench."""
    gtex_prompt = (
        "What organ?\n\nSelect from the following options:\n{options}\n\n"
        'Respond as ```json\n{{"answer": YOUR_ANSWER}}\n```\n'
    )
    rows = [
        [
            "gtex",
            "G1",
            "g1.tiff",
            "Lung",
            "['Heart', 'Lung']",
            "True",
            "True",
            "True",
            "balanced_accuracy",
            "G1",
            gtex_prompt,
        ],
        [
            "tcga",
            "T1",
            "t1.svs",
            "2",
            "['LUAD', 'LUSC', 'BRCA']",
            "True",
            "True",
            "True",
            "balanced_accuracy",
            "u1",
            "Diagnosis?\n{options}",
        ],
        [
            "panda",
            "P1",
            "p1.tiff",
            "3",
            "",
            "True",
            "True",
            "True",
            "balanced_accuracy",
            "p1.tiff",
            'Grade it. ```json\n{{"isup_grade": N}}\n```',
        ],
        [
            "tcga_slidebench",
            "S1",
            "t1.svs",
            "1",
            "['2', '3']",
            "True",
            "True",
            "True",
            "accuracy",
            "u1",
            "Secondary Gleason pattern?",
        ],
        [
            "tcga",
            "T2",
            "missing.svs",
            "1",
            "['A', 'B']",
            "True",
            "True",
            "True",
            "balanced_accuracy",
            "u2",
            "Diagnosis?\n{options}",
        ],
    ]
    root.mkdir(parents=True, exist_ok=True)
    with (root / "MultiPathQA.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(MULTIPATHQA_HEADER)
        writer.writerows(rows)
    for name in ("g1.tiff", "t1.svs", "p1.tiff"):
        (root / "slides").mkdir(exist_ok=True)
        (root / "slides" / name).write_bytes(b"slide")  # the reader only checks it is there
    return root


IU_XML = """<?xml version="1.0" encoding="utf-8"?>
<eCitation><MedlineCitation><Article><Abstract>
<AbstractText Label="COMPARISON">None.</AbstractText>
<AbstractText Label="FINDINGS">{findings}</AbstractText>
<AbstractText Label="IMPRESSION">{impression}</AbstractText>
</Abstract></Article></MedlineCitation>
<parentImage id="{image}"><url>/hadoop/x.jpg</url></parentImage>
</eCitation>
"""


def iu_xray(root: Path, archive: bool = True) -> Path:
    """Two Open-i reports (in a .tgz, or unpacked), one of them with its PNG."""
    reports = {
        "1.xml": IU_XML.format(
            findings="Heart size normal. No effusion.",
            impression="Normal chest.",
            image="CXR1_1_IM-0001-3001",
        ),
        "2.xml": IU_XML.format(
            findings="Small left effusion.", impression="Effusion.", image="CXR2_1_IM-0652-1001"
        ),
    }
    root.mkdir(parents=True, exist_ok=True)
    if archive:
        with tarfile.open(root / "NLMCXR_reports.tgz", "w:gz") as tar:
            for name, text in reports.items():
                data = text.encode()
                info = tarfile.TarInfo(f"ecgen-radiology/{name}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    else:
        for name, text in reports.items():
            (root / "ecgen-radiology").mkdir(exist_ok=True)
            (root / "ecgen-radiology" / name).write_text(text)
    png(root / "images" / "CXR1_1_IM-0001-3001.png")
    return root


def chestagentbench(root: Path) -> Path:
    """Two questions of one case and one of another (six options each)."""
    options = "\n".join(f"{c}) option {c}" for c in "ABCDEF")
    rows = [
        {
            "full_question_id": "c1_q1",
            "case_id": "c1",
            "question": f"Which finding?\n{options}",
            "answer": "C",
            "images": ["figures/c1.png"],
            "categories": "detection,localization",
        },
        {
            "full_question_id": "c1_q2",
            "case_id": "c1",
            "question": f"Which side?\n{options}",
            "answer": "A",
            "images": ["figures/c1.png"],
            "categories": "localization",
        },
        {
            "full_question_id": "c2_q1",
            "case_id": "c2",
            "question": f"Diagnosis?\n{options}",
            "answer": "F",
            "images": ["figures/c2.png"],
            "categories": "diagnosis",
        },
    ]
    root.mkdir(parents=True, exist_ok=True)
    (root / "metadata.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    png(root / "figures" / "c1.png")
    png(root / "figures" / "c2.png", 90)
    return root


def shared_tree(root: Path) -> Path:
    """A tiny tree in the layout of ../shared/data with known ground truth.

    Nuclei: 3 labelled instances in image01's mask. Lungs: 100 mask pixels at mask size
    20x10 for a 40x20 image (400 px at image size). DICOM: a CT with window center 40.
    NIH: image 00000001_000 labelled Cardiomegaly|Effusion.
    """
    he = root / "images_2d" / "nuclei_he_miccai"
    png(he / "image01.png", 200, (8, 4))
    labels = np.zeros((4, 8), int)
    labels[0, 0:2], labels[1, 5], labels[3, 7] = 1, 2, 9
    (he / "image01_mask.txt").write_text("8 4\n" + "\n".join(map(str, labels.ravel())) + "\n")
    cxr = root / "images_2d" / "cxr"
    png(cxr / "txv_16747_3_1.jpg", 100, (40, 20))
    mask = np.zeros((10, 20), np.uint8)
    mask[0:5, 0:20] = 255
    buf = io.BytesIO()
    Image.fromarray(mask).save(buf, format="PNG")
    (root / "images_2d" / "cxr_masks").mkdir(parents=True)
    with zipfile.ZipFile(
        root / "images_2d" / "cxr_masks" / "semantic_masks_v7labs_lungs.zip", "w"
    ) as zf:
        zf.writestr("semantic_masks_v7labs_lungs/16747_3_1.jpg", buf.getvalue())
    ct = root / "dicom" / "ct" / "pdd_693_UNCR_head_CT_CQ500.dcm"
    ct.parent.mkdir(parents=True)
    ds = make_dataset(ct_phantom())
    ds.WindowCenter, ds.WindowWidth = 40, 400
    write(ds, ct, ExplicitVRLittleEndian)
    png(cxr / "nih_00000001_000.png", 60, (32, 32))
    table = cxr / "labels" / "nih_Data_Entry_2017_v2020.csv.gz"
    table.parent.mkdir(parents=True)
    with gzip.open(table, "wt", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Image Index", "Finding Labels", "Patient ID"])
        writer.writerow(["00000001_000.png", "Cardiomegaly|Effusion", "1"])
        writer.writerow(["00000099_000.png", "No Finding", "99"])
    return root
