"""Decode + window + PNG encode (our pipeline) against bare pydicom decoding, side by side.

Usage: .venv/bin/python benchmarks/bench_dicom.py [--repeats N] [--max-side PX]

For each sample file in ../shared/data/dicom, the two pipelines run alternately N times
and the best (minimum) times are compared, the usual choice on a shared, noisy machine:
  bare  = pydicom.dcmread(path).pixel_array
  ours  = render_png(path, max_side) without its cache      (read, element checks,
          bounded decode, rescale, window, 8-bit PNG; no header summary: it needs none)
plus our stages on their own: load_image (with the de-identified header summary, as
describe_image loads), display_array, encode_png.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import pydicom  # noqa: E402

from tools.imaging.reader import load_image  # noqa: E402
from tools.imaging.render import display_array, encode_png  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "dicom"
FILES = [
    "ct/pdd_693_UNCR_head_CT_CQ500.dcm",
    "ct/pydicom_CT_small.dcm",
    "ct/pdd_explicit_VR-UN_pancreas_CT_j2k.dcm",
    "ct/slideio_CT1_J2KI.dcm",
    "cxr/pdd_RG1_UNCR_chest_CR.dcm",
    "cxr/pdd_RG1_J2KI_chest_CR_jpeg2000lossy.dcm",
    "cxr/rsna_pneumonia_1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm",
    "cxr/hd_dx_image.dcm",
    "compressed/pydicom_MR_small_RLE.dcm",
    "compressed/pydicom_JPEG2000.dcm",
    "mr_series_liver_mrcp_s1101/IM_0160.dcm",
    "multiframe/pdd_eCT_Supplemental_enhancedCT_2frame.dcm",
    "edge_cases/pydicom_zipMR.gz",
]


def _median_ms(func: Callable[[], object], times: list[float]) -> None:
    start = time.perf_counter()
    func()
    times.append((time.perf_counter() - start) * 1000)


def bare(path: Path) -> object:
    """The baseline: pydicom reads and decodes all frames."""
    if path.suffix == ".gz":
        import gzip

        with gzip.open(path) as fh:
            return pydicom.dcmread(fh).pixel_array
    return pydicom.dcmread(path).pixel_array


def ours(path: Path, max_side: int) -> bytes:
    """What render_png does on a cache miss (render_png itself caches its results)."""
    pixels, _ = display_array(load_image(path, with_metadata=False))
    return encode_png(pixels, max_side)


def measure(path: Path, repeats: int, max_side: int) -> tuple[list[float], ...]:
    """Time bare decoding and our pipeline alternately, then our stages alone."""
    t_bare: list[float] = []
    t_ours: list[float] = []
    t_load: list[float] = []
    t_win: list[float] = []
    t_png: list[float] = []
    bare(path)
    ours(path, max_side)  # warm up both
    for _ in range(repeats):
        _median_ms(partial(bare, path), t_bare)
        _median_ms(partial(ours, path, max_side), t_ours)
    image = load_image(path)
    pixels, _ = display_array(image)
    for _ in range(repeats):
        _median_ms(partial(load_image, path), t_load)
        _median_ms(partial(display_array, image), t_win)
        _median_ms(partial(encode_png, pixels, max_side), t_png)
    return t_bare, t_ours, t_load, t_win, t_png


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--max-side", type=int, default=4096, help="4096: no resizing")
    args = parser.parse_args()
    if not DATA.is_dir():
        print(f"sample data not found at {DATA} (expected ../shared/data/dicom)")
        return 2
    warnings.simplefilter("ignore")  # pydicom's notes about odd sample headers
    print(
        "| file | pixels | transfer syntax | bare ms | ours ms | ratio | load ms | window ms "
        "| png ms | ratio without png |"
    )
    print("|" + "---|" * 10)
    ratios, ratios_no_png = [], []
    for rel in FILES:
        path = DATA / rel
        ds = pydicom.dcmread(path) if path.suffix != ".gz" else None
        ts = ds.file_meta.TransferSyntaxUID.name if ds is not None else "gzip(Explicit VR LE)"
        t_bare, t_ours, t_load, t_win, t_png = measure(path, args.repeats, args.max_side)
        image = load_image(path)
        b, o = min(t_bare), min(t_ours)
        load_ms, win_ms = min(t_load), min(t_win)
        ratios.append(o / b)
        ratios_no_png.append((load_ms + win_ms) / b)
        shape = "×".join(str(s) for s in image.pixels.shape[:2])
        print(
            f"| {rel.split('/')[-1][:38]} | {shape} | {ts[:32]} | {b:.2f} | {o:.2f} | "
            f"{o / b:.2f} | {load_ms:.2f} | {win_ms:.2f} | {min(t_png):.2f} | "
            f"{(load_ms + win_ms) / b:.2f} |"
        )
    print(f"\ngeometric mean ratio ours/bare: {statistics.geometric_mean(ratios):.2f}")
    no_png = statistics.geometric_mean(ratios_no_png)
    print(f"geometric mean ratio (load + window, no PNG)/bare: {no_png:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
