"""Build the tool-use evaluation suite from labelled files (default ../shared/data).

    .venv/bin/python scripts/build_tooluse_suite.py --out .data/eval-data/tooluse
    .venv/bin/medassist eval tooluse --data .data/eval-data/tooluse

Answers are computed from ground truth (instance masks, lung and vessel masks, DICOM
headers, NIH ChestX-ray14 labels, a generated slide); the data stays out of the repository.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from assistant.eval.tooluse import TASKS, build_suite


def main() -> int:
    """Parse arguments, build, and say what was built and what was missing."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path(".data/eval-data/tooluse"))
    parser.add_argument("--tasks", nargs="*", choices=sorted(TASKS), default=list(TASKS))
    args = parser.parse_args()
    if not args.shared.is_dir():
        sys.stderr.write(f"error: --shared {args.shared} is not a folder\n")
        return 2
    build = build_suite(args.shared, args.out, args.tasks)
    counts = Counter(i.category for i in build.items)
    sys.stdout.write(f"{len(build.items)} items in {args.out / 'items.jsonl'}\n")
    for category, n in sorted(counts.items()):
        sys.stdout.write(f"  {category}: {n}\n")
    for rel in build.missing:
        sys.stdout.write(f"  missing source (its items were not built): {rel}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
