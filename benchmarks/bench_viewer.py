"""How long from a window/level change to the updated picture in the image viewer?

One UI app in this process with one session holding a 512² CT and a ~2k² radiograph (real
files from ../shared by default), and a real headless Chromium showing each in the viewer
(1024×1024 page). Each step sets a new window exactly as the end of a W/L drag does
(`setWindow` → new tiles rendered on the server → fully drawn) and times it inside the
page. Side by side, in alternation with those steps, the same process renders the bare
picture: the same frame's stored values through the same window to one full-resolution
PNG (no tiles, no HTTP, no browser). Reported: medians and the ratio.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_viewer.py [--steps 30]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from assistant.config import AppConfig, load_config
from assistant.service import Assistant
from assistant.testing import DeadChatModel
from tests.ui.conftest import CHROMIUM_ARGS, chromium_path
from tests.vllm_servers import free_port
from tools.imaging.reader import load_image
from tools.imaging.render import encode_png
from tools.imaging.windowing import Window, apply_window
from ui.app import launch

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "dicom"
CT = SHARED / "ct" / "pdd_693_UNCR_head_CT_CQ500.dcm"
RADIOGRAPH = SHARED / "cxr" / "pdd_RG1_UNCR_chest_CR.dcm"

_STEP_JS = """async ([c, w]) => {
  const t0 = performance.now();
  window.medassist.setWindow(c, w);
  await new Promise(done => {
    const check = () => (window.medassist.loads === 0 &&
      document.querySelector('.pane').dataset.rendered.includes(`|${c},${w}|`))
      ? done() : requestAnimationFrame(check);
    check();
  });
  return performance.now() - t0;
}"""


async def _session(config: AppConfig, files: list[Path]) -> str:
    async with Assistant(config, model=DeadChatModel()) as assistant:
        session = assistant.new_session("bench viewer").id
        for path in files:
            assistant.add_upload(session, path)
        return session


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30, help="window changes per image")
    parser.add_argument("--ct", type=Path, default=CT)
    parser.add_argument("--radiograph", type=Path, default=RADIOGRAPH)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    root = Path(tempfile.mkdtemp(prefix="bench-viewer-"))
    config = load_config(
        {"data_dir": str(root / "data"), "llm": {"base_url": "http://127.0.0.1:9/v1"}}
    )
    files = {"img1": args.ct, "img2": args.radiograph}
    session = asyncio.run(_session(config, list(files.values())))
    port = free_port()
    server = launch(config, host="127.0.0.1", port=port, block=False)
    rows = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            for image_id, path in files.items():
                pixels = load_image(path, with_metadata=False).pixels
                page = browser.new_page(viewport={"width": 1024, "height": 1024})
                page.goto(f"http://127.0.0.1:{port}/viewer/{session}/{image_id}/page")
                page.wait_for_function("() => document.body.dataset.ready === '1'", timeout=60_000)
                page.wait_for_function("() => window.medassist.loads === 0", timeout=60_000)
                info = page.evaluate("() => window.medassist.panes[0].info")
                c0, w0 = info["window"]["c"], info["window"]["w"]
                viewer_ms, bare_ms, tiles = [], [], []
                for step in range(args.steps + 3):
                    c, w = round(c0 + 3 * step + 1), round(w0 + 5 * step + 1)
                    ms = page.evaluate(_STEP_JS, [c, w])
                    start = time.perf_counter()
                    encode_png(apply_window(pixels, Window(c, w, "bench")), max(pixels.shape))
                    bare = (time.perf_counter() - start) * 1000
                    if step >= 3:  # the first steps warm caches and the JIT
                        viewer_ms.append(ms)
                        bare_ms.append(bare)
                tiles.append(
                    page.evaluate(
                        "() => performance.getEntriesByType('resource')"
                        ".filter(e => e.name.includes('.png?')).length"
                    )
                )
                page.close()
                v, b = statistics.median(viewer_ms), statistics.median(bare_ms)
                rows.append(
                    (f"{image_id} {pixels.shape[1]}×{pixels.shape[0]}", v, b, v / b, tiles[0])
                )
            browser.close()
    finally:
        server.close()
    print(f"{args.steps} window changes per image (medians, ms)")
    print("| image | W/L change → drawn (viewer) | bare render (window + PNG, full frame) "
          "| ratio | tiles fetched in all |")  # fmt: skip
    print("|---|---|---|---|---|")
    for name, v, b, ratio, count in rows:
        print(f"| {name} | {v:.1f} | {b:.1f} | {ratio:.2f}× | {count} |")


if __name__ == "__main__":
    main()
