"""Slide reading and tile serving vs bare OpenSlide, side by side in one run.

    .venv/bin/python benchmarks/bench_slides.py [--slide PATH] [--reps N]

Measures, for the real CMU-1-Small-Region.svs and a generated ≥50k×50k JPEG pyramid
(built once into .cache/bench/, reused afterwards):

1. region read + encode: our `read_downsampled` + JPEG/PNG encode vs bare
   `OpenSlide.read_region` alone and with the same RGB conversion and encode;
2. Deep Zoom tile latency p50/p95: our `TileServer.tile` (cache off, so every tile is
   generated) vs bare `DeepZoomGenerator.get_tile`, alone and + the same JPEG encode.

Methods alternate call by call over the same random addresses so that both see the
same OpenSlide cache state and machine load; ratios are ours / bare.
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import openslide
from fastapi import FastAPI, Response
from fastapi.testclient import TestClient
from openslide.deepzoom import DeepZoomGenerator
from PIL import Image

from tools.slides.deepzoom import TileServer
from tools.slides.opener import SlideCache, open_slide
from tools.slides.resolution import read_downsampled
from tools.slides.synthetic import tiled_jpeg_slide
from tools.slides.types import Region
from ui.slide_viewer import SlideRef, slide_router

REAL = Path("/work/shared/data/wsi/svs/CMU-1-Small-Region.svs")
BIG = Path(".cache/bench/pyramid_50k.tiff")
BIG_SIDE_TILES = 49  # 49 × 1024 = 50,176 pixels a side


def big_pyramid() -> Path:
    """Build (once) a 50,176² JPEG-tiled 6-level pyramid of real tissue, if possible."""
    if BIG.is_file():
        return BIG
    BIG.parent.mkdir(parents=True, exist_ok=True)
    if REAL.is_file():
        with openslide.OpenSlide(REAL) as osr:
            block = np.asarray(osr.read_region((600, 1200), 0, (1024, 1024)).convert("RGB"))
    else:  # synthetic texture: pink stroma with purple dots
        rng = np.random.default_rng(0)
        block = np.full((1024, 1024, 3), (230, 170, 200), np.uint8)
        for y, x in rng.integers(8, 1016, (1500, 2)):
            block[y - 5 : y + 5, x - 5 : x + 5] = (90, 50, 140)
    start = time.perf_counter()
    tiled_jpeg_slide(BIG, block, (BIG_SIDE_TILES, BIG_SIDE_TILES), levels=6)
    print(f"generated {BIG} in {time.perf_counter() - start:.1f} s "
          f"({BIG.stat().st_size / 2**20:.0f} MiB)")
    return BIG


def encode(image: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    if fmt == "PNG":
        image.save(buf, format="PNG", compress_level=1)
    else:
        image.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def side_by_side(methods: dict[str, Callable[[int], object]], n: int) -> dict[str, list[float]]:
    """Run each method on call i in rotating order; return per-method latencies (ms)."""
    names = list(methods)
    out: dict[str, list[float]] = {name: [] for name in names}
    for i in range(n):
        for name in names[i % len(names):] + names[: i % len(names)]:
            start = time.perf_counter()
            methods[name](i)
            out[name].append((time.perf_counter() - start) * 1000.0)
    return out


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def region_bench(path: Path, reps: int, size: int, rng: random.Random) -> list[str]:
    # One handle per method: OpenSlide caches decoded tiles per handle, and a handle
    # reading a region right after another method read it would get it for free.
    handles = [openslide.OpenSlide(path) for _ in range(3)]
    mine = [open_slide(path) for _ in range(2)]
    width, height = handles[0].dimensions
    spots = [(rng.randrange(0, max(1, width - size)), rng.randrange(0, max(1, height - size)))
             for _ in range(reps)]

    def ours_read(i: int, k: int, fmt: str) -> bytes:
        region = Region(x=spots[i][0], y=spots[i][1], width=size, height=size)
        return encode(read_downsampled(mine[k], region, 1.0), fmt)

    def bare_read(i: int, k: int, fmt: str) -> bytes:
        return encode(handles[k].read_region(spots[i], 0, (size, size)).convert("RGB"), fmt)

    methods: dict[str, Callable[[int], object]] = {
        "bare read_region (RGBA, no encode)": lambda i: handles[0].read_region(
            spots[i], 0, (size, size)),
        "bare read_region + RGB + JPEG": lambda i: bare_read(i, 1, "JPEG"),
        "ours read + JPEG": lambda i: ours_read(i, 0, "JPEG"),
        "bare read_region + RGB + PNG": lambda i: bare_read(i, 2, "PNG"),
        "ours read + PNG": lambda i: ours_read(i, 1, "PNG"),
    }
    for name in methods:  # warm up: open files, fill OpenSlide's cache equally
        methods[name](0)
    res = side_by_side(methods, reps)
    base = statistics.median(res["bare read_region (RGBA, no encode)"])
    lines = [f"| {name} | {statistics.median(v):.1f} | {pct(v, 95):.1f} | "
             f"{statistics.median(v) / base:.2f}× |" for name, v in res.items()]
    jpeg = statistics.median(res["ours read + JPEG"]) / statistics.median(
        res["bare read_region + RGB + JPEG"])
    png = statistics.median(res["ours read + PNG"]) / statistics.median(
        res["bare read_region + RGB + PNG"])
    lines.append(f"| ours / bare with the same encode | JPEG {jpeg:.2f}× | PNG {png:.2f}× | |")
    for handle in handles:
        handle.close()
    for slide in mine:
        slide.close()
    return lines


def tile_bench(path: Path, reps: int, rng: random.Random) -> list[str]:
    handles = [openslide.OpenSlide(path) for _ in range(2)]  # one per method (tile caches)
    bare, bare2 = (DeepZoomGenerator(h, tile_size=254, overlap=1, limit_bounds=True)
                   for h in handles)
    server = TileServer(SlideCache(), tile_size=254, overlap=1, quality=80, cache_bytes=0)
    cached = TileServer(SlideCache(), tile_size=254, overlap=1, quality=80)
    levels = range(max(0, bare.level_count - 4), bare.level_count)  # the four finest levels
    addresses = []
    for _ in range(reps):
        level = rng.choice(list(levels))
        cols, rows = bare.level_tiles[level]
        addresses.append((level, (rng.randrange(cols), rng.randrange(rows))))

    def bare_jpeg(i: int) -> bytes:
        buf = io.BytesIO()
        bare2.get_tile(*addresses[i]).save(buf, format="JPEG", quality=80)
        return buf.getvalue()

    for level, (col, row) in addresses:  # the cached server has every tile already
        cached.tile(path, level, col, row)
    app = FastAPI()
    app.include_router(slide_router(lambda s, i: SlideRef(path, path.parent),
                                    tiles=TileServer(SlideCache(), quality=80, cache_bytes=0)))
    fixed = io.BytesIO()
    bare.get_tile(*addresses[0]).save(fixed, format="JPEG", quality=80)

    @app.get("/floor")
    async def floor() -> Response:  # the same HTTP path with no tile work: its overhead
        return Response(fixed.getvalue(), media_type="image/jpeg")

    client = TestClient(app)

    def http_tile(i: int) -> bytes:
        level, (col, row) = addresses[i]
        response = client.get(f"/slides/s/img1_files/{level}/{col}_{row}.jpeg")
        response.raise_for_status()
        return response.content
    methods: dict[str, Callable[[int], object]] = {
        "bare DeepZoomGenerator.get_tile (PIL, no encode)": lambda i: bare.get_tile(*addresses[i]),
        "bare get_tile + JPEG": bare_jpeg,
        "ours TileServer.tile, cache off": lambda i: server.tile(
            path, addresses[i][0], *addresses[i][1]),
        "ours HTTP route (FastAPI TestClient), cache off": http_tile,
        "HTTP floor: same client, route returning a fixed tile": lambda i: client.get("/floor"),
        "ours TileServer.tile, cached": lambda i: cached.tile(
            path, addresses[i][0], *addresses[i][1]),
    }
    for name in methods:
        methods[name](0)
    res = side_by_side(methods, reps)
    base = res["bare get_tile + JPEG"]
    lines = [f"| {name} | {pct(v, 50):.2f} | {pct(v, 95):.2f} | "
             f"{pct(v, 50) / pct(base, 50):.2f}× / {pct(v, 95) / pct(base, 95):.2f}× |"
             for name, v in res.items()]
    for handle in handles:
        handle.close()
    client.close()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--slide", type=Path, default=REAL)
    parser.add_argument("--reps", type=int, default=60)
    parser.add_argument("--region", type=int, default=1024)
    parser.add_argument("--tiles-only", action="store_true", help="skip the region reads")
    parser.add_argument("--big-only", action="store_true", help="only the generated pyramid")
    args = parser.parse_args()
    rng = random.Random(0)
    slides = [p for p in (args.slide, big_pyramid()) if p.is_file()]
    slides = slides[-1:] if args.big_only else slides
    for path in slides:
        with openslide.OpenSlide(path) as osr:
            dims = " / ".join(f"{w}×{h}" for w, h in osr.level_dimensions)
        print(f"\n### {path.name} (levels {dims})\n")
        if not args.tiles_only:
            print(f"Region {args.region}×{args.region} at level 0, {args.reps} reads each (ms)\n")
            print("| method | p50 | p95 | vs bare read_region |\n|---|---|---|---|")
            print("\n".join(region_bench(path, args.reps, args.region, rng)))
        print(f"\nDeep Zoom tiles 254+1, JPEG q80, {args.reps * 4} random tiles on the four "
              "finest levels (ms)\n")
        print("| method | p50 | p95 | vs bare get_tile + JPEG (p50 / p95) |\n|---|---|---|---|")
        print("\n".join(tile_bench(path, args.reps * 4, rng)))


if __name__ == "__main__":
    main()
