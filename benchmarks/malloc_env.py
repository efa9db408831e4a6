#!/usr/bin/env python
"""Does glibc's allocator slow the CLI down? Time `microdeblur deblur` on one image:

* ``default``: glibc as it comes (``MICRODEBLUR_MALLOC_TUNING=0`` turns off the CLI's own
  tuning);
* ``tuned``: ``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=<large>`` in the environment (no mmap
  for big blocks, no trimming: freed tile buffers are reused instead of being returned to the
  kernel and page-faulted back in on the next tile);
* ``cli``: what the CLI does by itself (``cli.tune_allocator``: the same through mallopt).

    python benchmarks/malloc_env.py [--size 2048] [--method gran.em_v1] [--repeats 2]

Each configuration runs ``--repeats`` times alternately in fresh processes; prints the best
wall time and the minor page faults of each, and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SAMPLE = (
    Path(__file__).parents[1] / "src" / "napari_microdeblur" / "samples" / "ht29_nuclei_hoechst.tif"
)
TUNED = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(2**40)}


def run(cmd: list[str], env: dict) -> tuple[float, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_minflt
    t = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_minflt - before


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=2048)
    p.add_argument("--method", default="gran.em_v1")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--json", type=Path, default=Path("bench_out/malloc_env.json"))
    args = p.parse_args(argv)
    import tifffile

    tile = tifffile.imread(SAMPLE)
    image = np.tile(tile, (args.size // tile.shape[0] + 1,) * 2)[: args.size, : args.size]
    results: dict[str, list] = {"default": [], "tuned": [], "cli": []}
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.tif"
        tifffile.imwrite(src, image)
        cmd = [sys.executable, "-m", "napari_microdeblur.cli", "deblur", str(src), "-o",
               str(Path(tmp) / "out.tif"), "--method", args.method, "--overwrite", "-q"]
        base = {k: v for k, v in os.environ.items() if k not in TUNED}
        off = {**base, "MICRODEBLUR_MALLOC_TUNING": "0"}
        for _ in range(args.repeats):
            results["default"].append(run(cmd, off))
            results["tuned"].append(run(cmd, {**off, **TUNED}))
            results["cli"].append(run(cmd, base))
    summary = {
        "image": [args.size, args.size], "method": args.method, "tuned_env": TUNED,
        **{k: {"best_s": round(min(t for t, _ in v), 2),
               "minor_faults": min(f for _, f in v)} for k, v in results.items()},
    }
    for k in ("tuned", "cli"):
        summary[f"time_ratio_{k}_over_default"] = round(
            summary[k]["best_s"] / summary["default"]["best_s"], 3)
    print(json.dumps(summary, indent=2))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
