"""Accuracy of the image-class classifier (tools/imaging/classify.py) on labelled real images.

Pixel rules: every plain image of ../shared/data with a known class (chest X-rays, H&E and
IHC, fluorescence nuclei, fundus photographs; the chest DICOMs' previews as pixels only),
plus skimage's bundled photographs (cat, astronaut, coffee, text, ...) as `other`, minus
any that duplicate a shared file. Crops of the CMU-1 slide add H&E samples. Samples are
grouped by source image, and the groups of each class split alternately into a *tune*
half (thresholds were set looking at it only) and a *held-out* half. Header rules: every
DICOM file's modality against the class its folder says.

    .venv/bin/python benchmarks/eval_classify.py [--data ../shared/data] [--features]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.attachments import ImageClass  # noqa: E402
from tools.imaging.classify import classify, features, from_header  # noqa: E402
from tools.imaging.reader import load_image  # noqa: E402
from tools.imaging.render import display_array  # noqa: E402

C = ImageClass
CLASSES = [C.RADIOGRAPH, C.STAINED_TISSUE, C.FLUORESCENCE, C.FUNDUS, C.OTHER]
NATURAL = [
    "astronaut.png", "brick.png", "camera.png", "cell.png", "chelsea.png", "clock_motion.png",
    "coffee.png", "coins.png", "color.png", "grass.png", "gravel.png", "horse.png", "logo.png",
    "moon.png", "motorcycle_left.png", "page.png", "phantom.png", "text.png",
    "hubble_deep_field.jpg", "rocket.jpg", "chessboard_RGB.png",
]  # fmt: skip
"""skimage's bundled pictures that are none of the medical classes (motorcycle_right and
chessboard_GRAY left out: near-copies of motorcycle_left and chessboard_RGB)."""


@dataclass
class Sample:
    """One labelled picture."""

    name: str
    group: str
    label: ImageClass
    pixels: np.ndarray


def _preview(path: Path) -> np.ndarray:
    return display_array(load_image(path))[0]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _slide_crops(path: Path, n: int = 4, side: int = 512) -> list[np.ndarray]:
    import openslide

    slide = openslide.OpenSlide(str(path))
    w, h = slide.dimensions
    crops = []
    for i in range(n):  # a diagonal of squares across the slide
        x = int((w - side) * (i + 0.5) / n)
        y = int((h - side) * (i + 0.5) / n)
        crops.append(np.asarray(slide.read_region((x, y), 0, (side, side)).convert("RGB")))
    slide.close()
    return crops


def samples(data: Path) -> list[Sample]:
    """The labelled pictures (see the module docstring)."""
    d = data / "images_2d"
    out: list[Sample] = []

    def add(path: Path, label: ImageClass, group: str | None = None) -> None:
        out.append(Sample(path.name, group or path.stem, label, _preview(path)))

    cxr = sorted((d / "cxr").rglob("*.png")) + sorted((d / "cxr").glob("*.jpg"))
    for p in cxr + sorted((d / "cxr_medrax_demo").iterdir()):
        add(p, C.RADIOGRAPH)
    for p in sorted((data / "dicom" / "cxr").glob("*.dcm")):
        add(p, C.RADIOGRAPH, "RG1" if "RG1" in p.name else None)  # same image, two codecs
    for p in sorted((d / "histology").iterdir()):
        add(p, C.STAINED_TISSUE, "cmu1" if "CMU-1" in p.name else None)
    for p in sorted((d / "nuclei_he_miccai").glob("image0?.png")):
        add(p, C.STAINED_TISSUE)
    svs = data / "wsi" / "svs" / "CMU-1-Small-Region.svs"
    for i, crop in enumerate(_slide_crops(svs)):
        out.append(Sample(f"CMU-1 crop {i + 1}", "cmu1", C.STAINED_TISSUE, crop))
    add(d / "nuclei_fluorescence" / "stardist_dsb2018_img2d.tif", C.FLUORESCENCE)
    add(data / "wsi" / "tiff" / "pathml_smalltif.tif", C.FLUORESCENCE)
    for p in sorted((d / "fundus").rglob("*")):
        if p.is_file() and "mask" not in p.name and "manual" not in p.name:
            add(p, C.FUNDUS)
    add(data / "wsi" / "synthetic_format_fixtures" / "pathml_small_HE_levels.tiff", C.OTHER)
    shared = {_sha(p) for p in d.rglob("*") if p.is_file()}
    import skimage

    bundled = Path(skimage.__file__).parent / "data"
    for name in NATURAL:
        path = bundled / name
        if path.exists() and _sha(path) not in shared:
            add(path, C.OTHER, f"skimage:{name}")
    return out


def split(items: list[Sample]) -> dict[str, str]:
    """Group -> 'tune' or 'held-out', alternating within each class in name order."""
    which: dict[str, str] = {}
    for label in CLASSES:
        groups = sorted({s.group for s in items if s.label == label})
        for i, g in enumerate(groups):
            which[g] = "tune" if i % 2 == 0 else "held-out"
    return which


def matrix(rows: list[tuple[ImageClass, ImageClass]], title: str) -> list[str]:
    """A Markdown confusion matrix (rows: truth, columns: predicted) and accuracy."""
    counts = Counter(rows)
    cols = [*CLASSES, C.CROSS_SECTION] if any(p == C.CROSS_SECTION for _, p in rows) else CLASSES
    lines = [f"**{title}**: {sum(t == p for t, p in rows)}/{len(rows)} correct "
             f"({100 * sum(t == p for t, p in rows) / max(1, len(rows)):.0f} %)", ""]  # fmt: skip
    lines.append("| truth \\ predicted | " + " | ".join(c.value for c in cols) + " |")
    lines.append("|---" * (len(cols) + 1) + "|")
    for t in CLASSES:
        if any(r[0] == t for r in rows):
            lines.append(f"| {t.value} | " + " | ".join(str(counts[(t, p)]) for p in cols) + " |")
    return [*lines, ""]


def header_rows(data: Path) -> list[tuple[str, ImageClass, ImageClass | None]]:
    """(file, expected, decided) for the DICOM files whose folder says what they are."""
    expected = {"cxr": C.RADIOGRAPH, "ct": C.CROSS_SECTION, "mr_series_liver_mrcp_s1101":
                C.CROSS_SECTION, "compressed": C.CROSS_SECTION}  # fmt: skip
    rows = []
    for folder, label in expected.items():
        for p in sorted((data / "dicom" / folder).glob("*.dcm")):
            ds = pydicom.dcmread(p, stop_before_pixels=True, force=True)
            if getattr(ds, "Modality", None) in ("PR", "SEG"):
                continue  # a presentation state or a segmentation object, not an image
            modality = getattr(ds, "Modality", None)
            decided = from_header(modality, getattr(ds, "BodyPartExamined", None))
            rows.append((p.name, label, decided))
    return rows


def main() -> None:
    """Print the Markdown report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--features", action="store_true", help="print each sample's features")
    args = parser.parse_args()
    items = samples(args.data)
    part = split(items)
    results = [(s, classify(s.pixels)) for s in items]
    print(f"{len(items)} pictures from {len(part)} sources\n")
    for name in ("tune", "held-out"):
        rows = [(s.label, p) for s, p in results if part[s.group] == name]
        print("\n".join(matrix(rows, f"Pixels, {name} half")))
    print("\n".join(matrix([(s.label, p) for s, p in results], "Pixels, all")))
    wrong = [f"{s.name} ({s.label.value} -> {p.value}, {part[s.group]})" for s, p in results
             if p != s.label]  # fmt: skip
    print("Misclassified: " + ("; ".join(wrong) or "none") + "\n")
    by_header = header_rows(args.data)
    right = sum(e == d for _, e, d in by_header)
    print(
        f"**DICOM header**: {right}/{len(by_header)} files get their folder's class from Modality."
    )
    print(
        "Mismatches: "
        + ("; ".join(f"{n} ({e.value} -> {d})" for n, e, d in by_header if e != d) or "none")
    )
    if args.features:
        print()
        for s, p in results:
            facts = features(s.pixels).as_dict()
            print(f"- {s.name} [{s.label.value} -> {p.value}, {part[s.group]}] {facts}")


if __name__ == "__main__":
    main()
