"""Build the tool-use suite from labelled files: answers computed from ground truth.

Each task reads files in the layout of ../shared/data (see its README and MANIFEST.tsv),
computes the gold answer from masks, headers or label tables (never from a model), copies
the image into the suite folder and writes one JSONL item per question. A missing source is
reported by name, never skipped silently. `scripts/build_tooluse_suite.py` is the CLI.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import shutil
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from assistant.eval.items import EvalItem, ExpectedTool

DICOM_FILES = (
    "dicom/ct/pdd_693_UNCR_head_CT_CQ500.dcm",
    "dicom/ct/pydicom_CT_small.dcm",
    "dicom/cxr/hd_dx_image.dcm",
    "dicom/cxr/pdd_RG1_UNCR_chest_CR.dcm",
    "dicom/compressed/pydicom_MR_small_RLE.dcm",
)
MODALITIES = ("CT", "MR", "CR", "DX", "NM", "US")
"""Options of the modality question: a choice, so that listing codes earns nothing."""
NIH_IMAGES = ("nih_00000001_000.png", "nih_00027426_000.png")
NIH_FINDINGS = ("Cardiomegaly", "Effusion", "Infiltration")


@dataclass
class Build:
    """Items built so far, the files they use, and the sources that were missing."""

    shared: Path
    out: Path
    items: list[EvalItem] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def source(self, rel: str) -> Path | None:
        """The shared file, or None (recorded as missing)."""
        path = self.shared / rel
        if path.exists():
            return path
        self.missing.append(rel)
        return None

    def copy(self, path: Path, task: str) -> Path:
        """Copy an image into the suite folder; return its path relative to the suite."""
        target = self.out / "files" / task / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        return target.relative_to(self.out)

    def add(self, **fields: Any) -> None:
        """Add one item (paths relative to the suite folder)."""
        self.items.append(EvalItem(**fields))


def count_instances(labels: np.ndarray) -> int:
    """Objects in an instance mask: distinct non-zero labels."""
    values = np.unique(labels)
    return int(np.count_nonzero(values))


def miccai_labels(path: Path) -> np.ndarray:
    """Labels of a MICCAI nuclei ``imageNN_mask.txt``: a "W H" line, then W*H integers."""
    lines = path.read_text().split()
    width, height = int(lines[0]), int(lines[1])
    values = np.array(lines[2:], dtype=np.int64)
    if values.size != width * height:
        raise ValueError(f"{path}: {values.size} values for a {width}x{height} mask")
    return values  # the count does not depend on the (unstated) pixel order


def mask_area(mask: np.ndarray, size: tuple[int, int] | None = None) -> int:
    """Foreground pixels of a (possibly JPEG-compressed) mask, scaled to image `size` (w, h)."""
    grey = mask if mask.ndim == 2 else mask[..., :3].mean(axis=2)
    area = float(np.count_nonzero(grey > 127))
    if size is not None:
        area *= size[0] * size[1] / (grey.shape[1] * grey.shape[0])
    return round(area)


def nuclei_he(build: Build) -> None:
    """Count nuclei in the MICCAI H&E tiles from their instance masks."""
    for name in ("image01", "image08"):
        image = build.source(f"images_2d/nuclei_he_miccai/{name}.png")
        mask = build.source(f"images_2d/nuclei_he_miccai/{name}_mask.txt")
        if image is None or mask is None:
            continue
        build.add(
            id=f"nuclei_he:{name}",
            question="How many cell nuclei are in the attached H&E image?",
            gold=str(count_instances(miccai_labels(mask))),
            answer_type="number",
            tolerance=0.25,
            images=(build.copy(image, "nuclei"),),
            category="nuclei_count",
            expected_tool=ExpectedTool(name="segment", arguments={"target": "nuclei_he"}),
        )


def nuclei_fluorescence(build: Build) -> None:
    """Count nuclei in the DSB-2018 fluorescence image from its instance mask."""
    folder = "images_2d/nuclei_fluorescence"
    image = build.source(f"{folder}/stardist_dsb2018_img2d.tif")
    mask = build.source(f"{folder}/stardist_dsb2018_mask2d_instances.tif")
    if image is None or mask is None:
        return
    import tifffile

    build.add(
        id="nuclei_fluorescence:dsb2018",
        question="How many nuclei are in the attached fluorescence image?",
        gold=str(count_instances(np.asarray(tifffile.imread(mask)))),
        answer_type="number",
        tolerance=0.25,
        images=(build.copy(image, "nuclei"),),
        category="nuclei_count",
        expected_tool=ExpectedTool(name="segment", arguments={"target": "nuclei_fluorescence"}),
    )


def lung_area(build: Build) -> None:
    """Lung-field area in pixels from the V7 lung mask of the COVID-dataset image."""
    image = build.source("images_2d/cxr/txv_16747_3_1.jpg")
    archive = build.source("images_2d/cxr_masks/semantic_masks_v7labs_lungs.zip")
    if image is None or archive is None:
        return
    with zipfile.ZipFile(archive) as zf:
        member = "semantic_masks_v7labs_lungs/16747_3_1.jpg"
        if member not in zf.namelist():
            build.missing.append(f"{archive.name}:{member}")
            return
        mask = np.asarray(Image.open(io.BytesIO(zf.read(member))).convert("L"))
    with Image.open(image) as im:
        size = im.size
    build.add(
        id="lung_area:16747_3_1",
        question="What is the total area of both lung fields in the attached chest X-ray, "
        "in pixels?",
        gold=str(mask_area(mask, size)),
        answer_type="number",
        tolerance=0.25,
        images=(build.copy(image, "lungs"),),
        category="lung_area",
        expected_tool=ExpectedTool(name="segment", arguments={"target": "lung_fields"}),
    )


def vessel_area(build: Build) -> None:
    """Retinal vessel area in pixels from DRIVE's first manual annotation."""
    for image_rel, mask_rel in (
        ("test_images_01_test.tif", "test_1st_manual_01_manual1.gif"),
        ("training_images_21_training.tif", "training_1st_manual_21_manual1.gif"),
    ):
        image = build.source(f"images_2d/fundus/drive/{image_rel}")
        mask = build.source(f"images_2d/fundus/drive/{mask_rel}")
        if image is None or mask is None:
            continue
        build.add(
            id=f"vessel_area:{image.stem}",
            question="What is the area of the retinal vessels in the attached fundus photo, "
            "in pixels?",
            gold=str(mask_area(np.asarray(Image.open(mask).convert("L")))),
            answer_type="number",
            tolerance=0.3,
            images=(build.copy(image, "vessels"),),
            category="vessel_area",
            expected_tool=ExpectedTool(name="segment", arguments={"target": "retinal_vessels"}),
        )


def dicom_header(build: Build) -> None:
    """Modality, size and default window straight from the DICOM headers."""
    import pydicom

    describe = ExpectedTool(name="describe_image")
    for rel in DICOM_FILES:
        path = build.source(rel)
        if path is None:
            continue
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        image = (build.copy(path, "dicom"),)
        stem = path.stem
        build.add(
            id=f"dicom_modality:{stem}",
            question="What is the modality of the attached DICOM image (its DICOM code)?",
            gold=chr(ord("A") + MODALITIES.index(str(ds.Modality))),
            answer_type="choice",
            choices=MODALITIES,
            images=image,
            category="dicom_header",
            expected_tool=describe,
        )
        build.add(
            id=f"dicom_rows:{stem}",
            question="How many pixel rows (the image height) does the attached DICOM image have?",
            gold=str(int(ds.Rows)),
            answer_type="number",
            tolerance=0.0,
            images=image,
            category="dicom_header",
            expected_tool=describe,
        )
        center = ds.get("WindowCenter")
        if center is not None:
            first = center[0] if isinstance(center, pydicom.multival.MultiValue) else center
            build.add(
                id=f"dicom_window:{stem}",
                question="What window center does the attached DICOM file specify?",
                gold=f"{float(first):g}",
                answer_type="number",
                tolerance=0.0,
                images=image,
                category="dicom_window",
                expected_tool=describe,
            )


def nih_labels(build: Build) -> None:
    """NIH ChestX-ray14 findings as yes/no questions, from Data_Entry_2017."""
    table = build.source("images_2d/cxr/labels/nih_Data_Entry_2017_v2020.csv.gz")
    if table is None:
        return
    wanted = {name.removeprefix("nih_") for name in NIH_IMAGES}
    labels: dict[str, set[str]] = {}
    with gzip.open(table, "rt", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["Image Index"] in wanted:
                labels[row["Image Index"]] = set(row["Finding Labels"].split("|"))
    for name in NIH_IMAGES:
        image = build.source(f"images_2d/cxr/{name}")
        found = labels.get(name.removeprefix("nih_"))
        if image is None or found is None:
            continue
        for finding in NIH_FINDINGS:
            build.add(
                id=f"cxr14:{Path(name).stem}:{finding.lower()}",
                question=f"Does the attached chest X-ray show {finding.lower()}?",
                gold="yes" if finding in found else "no",
                answer_type="closed",
                images=(build.copy(image, "cxr14"),),
                category="cxr14_label",
            )


MEDRAX_DEMO = {
    "effusion1.png": {"pleural effusion": "yes", "pneumonia": "no"},
    "normal2.jpg": {"pleural effusion": "no", "pneumonia": "no"},
    "pneumonia1.jpg": {"pleural effusion": "no", "pneumonia": "yes"},
}
"""MedRAX demo radiographs, labelled by their file names."""


def labelled_cxr(build: Build) -> None:
    """Yes/no findings from file-name labels (MedRAX demo) and TBX11K's folders."""
    for name, answers in MEDRAX_DEMO.items():
        image = build.source(f"images_2d/cxr_medrax_demo/{name}")
        if image is None:
            continue
        for finding, gold in answers.items():
            build.add(
                id=f"cxr_label:{Path(name).stem}:{finding.replace(' ', '_')}",
                question=f"Does the attached chest X-ray show {finding}?",
                gold=gold,
                answer_type="closed",
                images=(build.copy(image, "cxr_labels"),),
                category="cxr_label",
            )
    for rel, gold in (("tb/tb0005.png", "yes"), ("health/h0001.png", "no")):
        image = build.source(f"images_2d/cxr/tbx11k/imgs/{rel}")
        if image is None:
            continue
        build.add(
            id=f"cxr_label:tbx11k_{image.stem}:tuberculosis",
            question="Does the attached chest X-ray show signs of tuberculosis?",
            gold=gold,
            answer_type="closed",
            images=(build.copy(image, "cxr_labels"),),
            category="cxr_label",
        )


SLIDE_COLOURS = {"pink": (230, 140, 190), "purple": (110, 50, 140), "blue": (60, 90, 200)}
"""Solid regions of the synthetic slide, on white glass."""
REGION_OPTIONS = ("pink", "purple", "blue", "white")


def synthetic_slide(build: Build, size: int = 2048) -> None:
    """A generated pyramidal slide with three solid regions: what is at a given box."""
    from tools.slides.synthetic import write_slide

    base = np.full((size, size, 3), 255, np.uint8)
    half = size // 2
    boxes = {"pink": (0, 0), "purple": (half, 0), "blue": (0, half)}  # (x, y) of each quadrant
    for colour, (x, y) in boxes.items():
        base[y : y + half, x : x + half] = SLIDE_COLOURS[colour]
    target = build.out / "files" / "slides" / "synthetic_regions.tiff"
    target.parent.mkdir(parents=True, exist_ok=True)
    write_slide(target, base, levels=3, tile=256)
    rel = (target.relative_to(build.out),)
    for colour, (x, y) in [*boxes.items(), ("white", (half, half))]:
        box = {"x": x + half // 4, "y": y + half // 4, "width": half // 2, "height": half // 2}
        build.add(
            id=f"slide_region:{colour}",
            question=f"Zoom into the attached slide at x={box['x']}, y={box['y']}, "
            f"width={box['width']}, height={box['height']} (level-0 pixels). What colour is "
            "that region?",
            gold=chr(ord("A") + REGION_OPTIONS.index(colour)),
            answer_type="choice",
            choices=REGION_OPTIONS,
            images=rel,
            category="slide_region",
            expected_tool=ExpectedTool(name="slide_zoom", arguments=box),
        )


TASKS: dict[str, Callable[[Build], None]] = {
    "nuclei_he": nuclei_he,
    "nuclei_fluorescence": nuclei_fluorescence,
    "lung_area": lung_area,
    "vessel_area": vessel_area,
    "dicom_header": dicom_header,
    "nih_labels": nih_labels,
    "labelled_cxr": labelled_cxr,
    "synthetic_slide": synthetic_slide,
}


def build_suite(shared: Path, out: Path, tasks: Sequence[str] = tuple(TASKS)) -> Build:
    """Build the chosen tasks from `shared` into `out` (items.jsonl + files/)."""
    build = Build(shared, out)
    out.mkdir(parents=True, exist_ok=True)
    for name in tasks:
        TASKS[name](build)
    with (out / "items.jsonl").open("w", encoding="utf-8") as handle:
        for item in build.items:
            handle.write(json.dumps(item.model_dump(mode="json", exclude_defaults=True)) + "\n")
    return build
