"""Evaluate the weight-free segmenters on real public data in ../shared/data.

Dice/IoU per dataset, object-level F1 (IoU > 0.5 matching) for nuclei, Dice of the
interactive mode from point and box prompts built from the ground truth, and timings
(per image, per 1024² image, per interactive prompt). Prints a Markdown report.

    .venv/bin/python benchmarks/eval_segmentation.py [--data ../shared/data] [--prompts 40]
"""

from __future__ import annotations

import argparse
import io
import platform
import statistics
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import tifffile
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.registry import ToolContext  # noqa: E402
from tools.segmentation.anatomy import LungFieldsSegmenter, RetinalVesselSegmenter  # noqa: E402
from tools.segmentation.interactive import InteractiveSegmenter  # noqa: E402
from tools.segmentation.nuclei import NucleiSegmenter  # noqa: E402
from tools.segmentation.types import Prompts, SegInput, Segmenter, Target  # noqa: E402

NONE = Prompts()


def row(*cells: object) -> str:
    """One Markdown table row."""
    return "| " + " | ".join(str(c) for c in cells) + " |"


def header(*names: str) -> list[str]:
    """A Markdown table header."""
    return [row(*names), row(*["---"] * len(names))]


def dice(a: np.ndarray, b: np.ndarray) -> float:
    s = a.sum() + b.sum()
    return float(2 * (a & b).sum() / s) if s else 1.0


def iou(a: np.ndarray, b: np.ndarray) -> float:
    u = (a | b).sum()
    return float((a & b).sum() / u) if u else 1.0


def object_f1(pred: np.ndarray, gt: np.ndarray) -> tuple[float, int, int, int]:
    """F1 of instances matched one-to-one at IoU > 0.5; returns (f1, tp, n_pred, n_gt)."""
    pred = pred.astype(np.int64)
    gt = gt.astype(np.int64)
    n_pred = len(np.unique(pred[pred > 0]))
    n_gt = len(np.unique(gt[gt > 0]))
    both = (pred > 0) & (gt > 0)
    pairs, inter = np.unique(np.stack([pred[both], gt[both]]), axis=1, return_counts=True)
    ap = np.bincount(pred.ravel())
    ag = np.bincount(gt.ravel())
    ious = inter / (ap[pairs[0]] + ag[pairs[1]] - inter)
    tp = int((ious > 0.5).sum())
    return 2 * tp / max(1, n_pred + n_gt), tp, n_pred, n_gt


def timed(fn: Callable[[], object], repeats: int = 3) -> tuple[object, float]:
    out, times = None, []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return out, statistics.median(times)


def per_1024(seg: Segmenter, pixels: np.ndarray, target: Target, mpp: float | None) -> float:
    """Median seconds on the image resized to 1024×1024."""
    big = cv2.resize(pixels, (1024, 1024), interpolation=cv2.INTER_LINEAR)
    scale = max(pixels.shape[:2]) / 1024
    _, t = timed(lambda: seg.segment(SegInput(big, mpp=mpp and mpp * scale), target, NONE))
    return t


def load_data(data: Path) -> dict[str, list[tuple[str, np.ndarray, np.ndarray, dict[str, object]]]]:
    img2d = data / "images_2d"
    sets: dict[str, list[tuple[str, np.ndarray, np.ndarray, dict[str, object]]]] = {}
    he = img2d / "nuclei_he_miccai"
    sets["nuclei_he"] = []
    for name, mpp in (("image01", 0.5), ("image08", 0.25)):  # 20x and 40x per README_training
        rgb = np.asarray(Image.open(he / f"{name}.png"))[..., :3]
        gt = np.loadtxt(he / f"{name}_mask.txt", dtype=np.int32, skiprows=1).reshape(rgb.shape[:2])
        sets["nuclei_he"].append((name, rgb, gt, {"mpp": mpp}))
    fl = img2d / "nuclei_fluorescence"
    sets["nuclei_fluorescence"] = [(
        "dsb2018_img2d",
        tifffile.imread(fl / "stardist_dsb2018_img2d.tif"),
        tifffile.imread(fl / "stardist_dsb2018_mask2d_instances.tif").astype(np.int32),
        {"mpp": None},
    )]  # fmt: skip
    with zipfile.ZipFile(img2d / "cxr_masks" / "semantic_masks_v7labs_lungs.zip") as z:
        mask = np.asarray(
            Image.open(io.BytesIO(z.read("semantic_masks_v7labs_lungs/16747_3_1.jpg")))
        )
    cxr = np.asarray(Image.open(img2d / "cxr" / "txv_16747_3_1.jpg").convert("L"))
    sets["lung_fields"] = [("txv_16747_3_1", cxr, (mask > 127).astype(np.int32), {})]
    drive = img2d / "fundus" / "drive"
    sets["retinal_vessels"] = []
    for name, img, manual, fov in (
        ("DRIVE test 01", "test_images_01_test.tif", "test_1st_manual_01_manual1.gif",
         "test_mask_01_test_mask.gif"),
        ("DRIVE train 21", "training_images_21_training.tif", "training_1st_manual_21_manual1.gif",
         "training_mask_21_training_mask.gif"),
    ):  # fmt: skip
        rgb = np.asarray(Image.open(drive / img))
        gt = (np.asarray(Image.open(drive / manual)) > 0).astype(np.int32)
        sets["retinal_vessels"].append(
            (name, rgb, gt, {"fov": np.asarray(Image.open(drive / fov)) > 0})
        )
    return sets


SEGMENTERS: dict[str, tuple[Segmenter, Target]] = {
    "nuclei_he": (NucleiSegmenter(), Target.NUCLEI_HE),
    "nuclei_fluorescence": (NucleiSegmenter(), Target.NUCLEI_FLUORESCENCE),
    "lung_fields": (LungFieldsSegmenter(), Target.LUNG_FIELDS),
    "retinal_vessels": (RetinalVesselSegmenter(), Target.RETINAL_VESSELS),
}


def evaluate_automatic(
    sets: dict[str, list[tuple[str, np.ndarray, np.ndarray, dict[str, object]]]],
) -> list[str]:
    rows = header("target", "image", "size", "Dice", "IoU", "object F1 (TP/pred/GT)", "s/image",
                  "s per 1024²")  # fmt: skip
    for key, items in sets.items():
        seg, target = SEGMENTERS[key]
        for name, px, gt, meta in items:
            mpp = meta.get("mpp")
            out, t = timed(lambda: seg.segment(SegInput(px, mpp=mpp), target, NONE))  # noqa: B023
            pred = out.labels  # type: ignore[attr-defined]
            p, g = pred > 0, gt > 0
            if "fov" in meta:  # DRIVE convention: score inside the field of view
                fov = meta["fov"]
                p, g = p & fov, g & fov  # type: ignore[operator]
            f1 = "–"
            if key.startswith("nuclei"):
                f, tp, n_pred, n_gt = object_f1(pred, gt)
                f1 = f"{f:.3f} ({tp}/{n_pred}/{n_gt})"
            t1024 = per_1024(seg, px, target, mpp)  # type: ignore[arg-type]
            rows.append(f"| {key} | {name} | {px.shape[1]}×{px.shape[0]} | {dice(p, g):.3f} | "
                        f"{iou(p, g):.3f} | {f1} | {t:.2f} | {t1024:.2f} |")  # fmt: skip
    return rows


def interior_point(mask: np.ndarray) -> tuple[int, int]:
    """(x, y) of the pixel deepest inside the object (a user's natural click)."""
    dist = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return int(x), int(y)


def evaluate_interactive(
    sets: dict[str, list[tuple[str, np.ndarray, np.ndarray, dict[str, object]]]], n_prompts: int
) -> list[str]:
    rows = header("objects", "prompt", "n", "mean Dice", "median Dice", "median s/prompt",
                  "max s/prompt", "image size")  # fmt: skip
    seg = InteractiveSegmenter()
    rng = np.random.default_rng(0)
    cases: list[tuple[str, np.ndarray, list[np.ndarray]]] = []
    for name, rgb, gt, _ in sets["nuclei_he"]:  # image01 at 20x, image08 at 40x
        ids = [i for i in np.unique(gt) if i and (gt == i).sum() >= 100]
        picks = rng.choice(ids, size=min(n_prompts, len(ids)), replace=False)
        cases.append((f"H&E nuclei ({name})", rgb, [gt == i for i in picks]))
    name, img, gt, _ = sets["nuclei_fluorescence"][0]
    ids = [i for i in np.unique(gt) if i and (gt == i).sum() >= 100]
    picks = rng.choice(ids, size=min(n_prompts, len(ids)), replace=False)
    cases.append(("fluorescence nuclei", img, [gt == i for i in picks]))
    name, cxr, lung, _ = sets["lung_fields"][0]
    n, comp = cv2.connectedComponents(lung.astype(np.uint8))
    big = cv2.resize(cxr, (1024, 1024 * cxr.shape[0] // cxr.shape[1]), interpolation=cv2.INTER_AREA)
    comp = cv2.resize(
        comp.astype(np.uint8), (big.shape[1], big.shape[0]), interpolation=cv2.INTER_NEAREST
    )
    cases.append(
        (
            "lungs (CXR at 1024 px)",
            big,
            [comp == i for i in range(1, n) if (comp == i).sum() > 1000],
        )
    )
    for label, image, objects in cases:
        for kind in ("point", "box"):
            scores, times = [], []
            for obj in objects:
                ys, xs = np.nonzero(obj)
                if kind == "point":
                    prompts = Prompts(points=(interior_point(obj),))
                else:
                    pad = 2
                    x0, y0 = int(xs.min()) - pad, int(ys.min()) - pad
                    prompts = Prompts(
                        box=(x0, y0, int(xs.max()) + pad + 1, int(ys.max()) + pad + 1)
                    )
                t = time.perf_counter()
                out = seg.segment(SegInput(image), Target.PROMPTED, prompts)
                times.append(time.perf_counter() - t)
                scores.append(dice(out.labels > 0, obj))
            stats = [f"{v:.3f}" for v in (np.mean(scores), np.median(scores), np.median(times),
                                          np.max(times))]  # fmt: skip
            rows.append(row(label, kind, len(scores), *stats, f"{image.shape[1]}×{image.shape[0]}"))
    return rows


def tool_end_to_end(data: Path) -> list[str]:
    """Seconds of the whole `segment` tool (load, segment, measure, write PNG/RLE/overlay)."""
    import tempfile

    from tests.conftest import make_attachment
    from tools.segmentation.schema import SegmentArgs
    from tools.segmentation.tool import segment

    rows = header("tool call", "input", "s (median of 3)")
    cases = [
        ("lung_fields", data / "images_2d/cxr/covid-19-pneumonia-58-prior.jpg", {}),
        ("nuclei_he", data / "images_2d/nuclei_he_miccai/image08.png", {"microns_per_pixel": 0.25}),
        ("retinal_vessels", data / "images_2d/fundus/drive/test_images_01_test.tif", {"png": True}),
        ("tissue", data / "images_2d/histology/wsidicom_data_test_tile_CMU-1.png", {}),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for target, path, extra in cases:
            if extra.pop("png", False):  # the app's loader needs imagecodecs for LZW TIFF
                png = Path(tmp) / f"{path.stem}.png"
                with Image.open(path) as im:
                    im.save(png)
                path = png
            ctx = ToolContext("bench", Path(tmp), {"img1": make_attachment(path)})
            args = SegmentArgs.model_validate({"image_id": "img1", "target": target, **extra})
            result, t = timed(lambda: segment(args, ctx))  # noqa: B023
            with Image.open(path) as im:
                size = f"{im.width}×{im.height}"
            count = result.count  # type: ignore[attr-defined]
            call = f"segment(target={target}) → {count} structures"
            rows.append(row(call, f"{path.name} ({size})", f"{t:.2f}"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--prompts", type=int, default=40, help="objects prompted per nuclei image")
    args = parser.parse_args()
    if not (args.data / "images_2d").is_dir():
        sys.exit(f"sample data not found at {args.data}: pass --data /path/to/shared/data")
    sets = load_data(args.data)
    print(f"_{platform.processor() or platform.machine()}, {platform.python_version()}, "
          f"cv2 threads={cv2.getNumThreads()}_\n")  # fmt: skip
    print("### Automatic targets\n")
    print("\n".join(evaluate_automatic(sets)))
    print("\n### Interactive prompts\n")
    print("Points at the object's innermost pixel; boxes = ground-truth box + 2 px.\n")
    print("\n".join(evaluate_interactive(sets, args.prompts)))
    print("\n### Whole tool call\n")
    print("\n".join(tool_end_to_end(args.data)))


if __name__ == "__main__":
    main()
