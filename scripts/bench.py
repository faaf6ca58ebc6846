"""Benchmark the offline pipeline: a cold render of the example, a warm rerun, a join.

    python scripts/bench.py [--config pipeline.yaml.example] [--repeat 3]

Prints seconds per phase (best of --repeat) and frames per second; touches nothing
outside a temporary folder.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

from ttv.config import load_config
from ttv.media.concat import Segment, join
from ttv.pipeline import run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="pipeline.yaml.example")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    cold, warm, joins = [], [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "run"
            start = time.perf_counter()
            result = run(load_config(args.config), run_dir=out, progress=False)
            cold.append(time.perf_counter() - start)
            start = time.perf_counter()
            run(load_config(args.config), run_dir=out, progress=False)
            warm.append(time.perf_counter() - start)
            clips = sorted((out / "clips").glob("*.mp4"))
            start = time.perf_counter()
            model = load_config(args.config).model.output
            join(
                [Segment(c, skip_first=1 if i else 0) for i, c in enumerate(clips)],
                Path(tmp) / "joined.mp4",
                width=model.width, height=model.height, fps=model.fps,
            )  # fmt: skip
            joins.append(time.perf_counter() - start)
    frames = result.summary["frames"]
    print(f"example: {result.summary['shots']} shots, {frames} frames")
    print(
        f"cold render  {min(cold):6.2f} s  ({frames / min(cold):6.1f} output frames/s)"
    )
    print(f"warm rerun   {min(warm):6.2f} s  (everything from the cache)")
    print(f"join only    {min(joins):6.2f} s  ({frames / min(joins):6.1f} frames/s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
