"""Is the UI still responsive while someone uploads a large file? Slide tile latency p50/p95.

`medassist ui` runs as its own process (against the fault server as a stand-in model: no
model work is measured). One browser session holds a slide; the benchmark fetches its
Deep Zoom tiles over HTTP, first idle, then while another session uploads a ~500 MB
multi-frame DICOM through the same HTTP endpoints a browser uses (gradio_client), and
reports both distributions and their ratio (goal p95 ≤ 1.5× idle).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_event_loop.py [--upload-mb 500] [--tiles 300]
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from tests.faults.fixture import FaultServer
from tests.integration.test_load import UIProcess
from tools.slides.synthetic import write_slide


def big_dicom(path: Path, megabytes: int) -> Path:
    """A multi-frame 512×512 16-bit DICOM of about `megabytes` MB (noise, so nothing packs)."""
    frames = max(1, megabytes * 1024 * 1024 // (512 * 512 * 2))
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.PatientName = "OT", "Bench^Upload"
    ds.Rows = ds.Columns = 512
    ds.NumberOfFrames = frames
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    rng = np.random.default_rng(0)
    ds.PixelData = rng.integers(0, 4096, (frames, 512, 512), dtype=np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def tile_urls(ui: UIProcess, session: str, image_id: str) -> list[str]:
    base = f"{ui.url}slides/{session}/{image_id}_files"
    # Levels 10-12 of an 8000×6000 slide each have at least 4×3 tiles of 254 px.
    tiles = [(level, c, r) for level in (10, 11, 12) for c in range(4) for r in range(3)]
    return [f"{base}/{level}/{c}_{r}.jpeg" for level, c, r in tiles]


def fetch(urls: list[str], count: int) -> list[float]:
    times = []
    rng = random.Random(1)
    for _ in range(count):
        url = rng.choice(urls)
        start = time.perf_counter()
        with urllib.request.urlopen(url, timeout=30) as response:
            response.read()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upload-mb", type=int, default=500)
    parser.add_argument("--tiles", type=int, default=300)
    args = parser.parse_args()
    from gradio_client import Client, handle_file

    tmp = Path(tempfile.mkdtemp(prefix="bench-loop-"))
    base = np.full((6000, 8000, 3), 235, np.uint8)
    base[1000:5000, 2000:6000] = (180, 90, 150)
    slide = write_slide(tmp / "slide.svs", base, layout="aperio", compression="jpeg")
    upload = big_dicom(tmp / "big.dcm", args.upload_mb)
    print(f"upload file: {upload.stat().st_size / 1e6:.0f} MB")
    server = FaultServer()
    server.start()
    ui = UIProcess(tmp / "data", server.url)
    ui.start()
    try:
        viewer = Client(ui.url, verbose=False)
        result = viewer.predict(
            {"text": "", "files": [handle_file(str(slide))]}, [], "auto", "", api_name="/send"
        )
        session = next(  # the session list's update names the new session
            str(r["value"]) for r in result
            if isinstance(r, dict) and re.fullmatch(r"[0-9a-f]{32}", str(r.get("value")))
        )
        urls = tile_urls(ui, session, "img1")
        fetch(urls, 30)  # warm the slide cache
        idle = fetch(urls, args.tiles)
        uploader = Client(ui.url, verbose=False)
        upload_done = threading.Event()
        upload_s = [0.0]

        def do_upload() -> None:
            start = time.perf_counter()
            uploader.predict(
                {"text": "", "files": [handle_file(str(upload))]}, [], "auto", "", api_name="/send"
            )
            upload_s[0] = time.perf_counter() - start
            upload_done.set()

        thread = threading.Thread(target=do_upload)
        thread.start()
        busy: list[float] = []
        while not upload_done.is_set():
            busy += fetch(urls, 10)
        thread.join()
    finally:
        ui.stop()
        server.kill()

    def pct(values: list[float], q: int) -> float:
        return statistics.quantiles(values, n=100)[q - 1] * 1000

    print(f"upload through the UI took {upload_s[0]:.1f} s; tiles fetched during it: {len(busy)}")
    print("| tiles | n | p50 ms | p95 ms |")
    print("|---|---|---|---|")
    print(f"| idle | {len(idle)} | {pct(idle, 50):.1f} | {pct(idle, 95):.1f} |")
    print(f"| during upload | {len(busy)} | {pct(busy, 50):.1f} | {pct(busy, 95):.1f} |")
    print(f"p95 ratio (during / idle): {pct(busy, 95) / pct(idle, 95):.2f}x")


if __name__ == "__main__":
    main()
