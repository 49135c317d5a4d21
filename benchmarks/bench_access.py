"""What does signing in cost a slide tile? Tile latency with accounts on against off.

Two UI apps in this process, each with its own data folder holding one session with the
same synthetic slide: one without `auth` (loopback, single user), one with an accounts
file (HTTP Basic on every request, owner check on every tile). Tiles are fetched in
alternation from the two (same tiles, same order), so machine noise hits both alike; the
report is p50/p95 of each and their ratio.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_access.py [--tiles 400]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from assistant.accounts import Accounts
from assistant.config import AppConfig, load_config
from assistant.service import Assistant
from assistant.testing import DeadChatModel
from tests.vllm_servers import free_port
from tools.slides.synthetic import write_slide
from ui.app import launch

USER = ("alice", "alice-secret-1")


async def _session(config: AppConfig, slide: Path, owner: str) -> str:
    async with Assistant(config, model=DeadChatModel()) as assistant:
        session = assistant.new_session("bench", owner=owner).id
        assistant.add_upload(session, slide)
        return session


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiles", type=int, default=400, help="tile requests per app")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-access-"))
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (4096, 4096, 3), dtype=np.uint8)
    slide = write_slide(root / "s.svs", base, layout="aperio", compression="jpeg")
    accounts = root / "accounts.json"
    Accounts(accounts).add(*USER)
    apps = {}
    for label, auth, owner in (("off", {}, ""), ("on", {"accounts_file": str(accounts)}, "alice")):
        config = load_config({"data_dir": str(root / label), "auth": auth,
                              "llm": {"base_url": "http://127.0.0.1:9/v1"}})  # fmt: skip
        session = asyncio.run(_session(config, slide, owner))
        port = free_port()
        apps[label] = (launch(config, host="127.0.0.1", port=port, block=False),
                       f"http://127.0.0.1:{port}/slides/{session}/img1_files")  # fmt: skip
    clients = {"off": httpx.Client(timeout=30), "on": httpx.Client(timeout=30, auth=USER)}
    times: dict[str, list[float]] = {"off": [], "on": []}
    level, side = 12, 16  # 4096 px at level 12 of the Deep Zoom pyramid: 16×16 tiles of 256
    for i in range(args.tiles + 20):
        col, row = i % side, (i // side) % side
        for label in ("off", "on") if i % 2 else ("on", "off"):
            url = f"{apps[label][1]}/{level}/{col}_{row}.jpeg"
            start = time.perf_counter()
            response = clients[label].get(url)
            elapsed = time.perf_counter() - start
            assert response.status_code == 200, (label, response.status_code, url)
            if i >= 20:  # the first requests warm caches and the accounts check
                times[label].append(elapsed * 1000)
    for server, _ in apps.values():
        server.close()
    stats = {k: (statistics.median(v), statistics.quantiles(v, n=20)[18]) for k, v in times.items()}
    print(f"tiles per app: {args.tiles} (256 px JPEG, level {level}, alternating)")
    print("| accounts | p50 (ms) | p95 (ms) |\n|---|---|---|")
    for label, (p50, p95) in stats.items():
        print(f"| {label} | {p50:.2f} | {p95:.2f} |")
    print(f"ratio on/off: p50 {stats['on'][0] / stats['off'][0]:.2f}x, "
          f"p95 {stats['on'][1] / stats['off'][1]:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
