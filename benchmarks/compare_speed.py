"""Compare & QC metric speed and peak memory: HEAD (``git archive``) against the working tree.

Cases: the dock's per-slice table (blurry + deblurred vs ground truth, 16-px border, then the
whole-image figure the border toggle shows) on 1024^2 and 4096^2 float32, and
``core.metrics.evaluate`` on a 30 x 1024 x 1024 stack. Each case runs in its own process;
peak RSS is that process's maximum minus its maximum before the case.

    OMP_NUM_THREADS=1 python benchmarks/compare_speed.py [--json OUT]
    # default OUT: benchmarks/results/compare_speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "compare_speed.json"

CASE = r"""
import json, resource, sys, time
import numpy as np
from napari_microdeblur.core import metrics, plane_metrics
from napari_microdeblur.core.progress import drive
case = sys.argv[1]
rng = np.random.default_rng(0)
shape = {"1024": (1024, 1024), "4096": (4096, 4096), "stack": (30, 1024, 1024)}[case]
truth = rng.random(shape, dtype=np.float32)
blurry = np.roll(truth, 1, -1)
deblurred = np.clip(truth + 0.05 * rng.standard_normal(shape, dtype=np.float32), 0, 1)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out = {}
t0 = time.perf_counter()
if case == "stack":
    out["evaluate"] = metrics.evaluate(deblurred, truth)["ssim"]
    out["seconds"] = time.perf_counter() - t0
else:
    planes = {"blurry": blurry, "deblurred": deblurred, "truth": truth}
    scale = metrics.reference_scale(truth)
    if hasattr(plane_metrics, "iter_plane_metrics_borders"):  # the dock's path now
        res = drive(plane_metrics.iter_plane_metrics_borders(planes, scale, borders=(16, 0)))
        out["table"], t1 = res[16], time.perf_counter()
        out["toggle"], t2 = res[0], time.perf_counter()  # the dock's cache holds it
    else:
        out["table"] = drive(plane_metrics.iter_plane_metrics(planes, scale, border=16))
        t1 = time.perf_counter()
        out["toggle"] = drive(plane_metrics.iter_plane_metrics(planes, scale, border=0))
        t2 = time.perf_counter()
    out["seconds"], out["toggle_seconds"] = t1 - t0, t2 - t1
out["peak_rss_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
print(json.dumps(out))
"""


def run(src: Path, case: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(src), OMP_NUM_THREADS=os.environ.get(
        "OMP_NUM_THREADS", "1"))
    done = subprocess.run([sys.executable, "-c", CASE, case], env=env, capture_output=True,
                          text=True, check=True, timeout=1200)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=OUT,
                        help="where to write the result (default %(default)s)")
    out = parser.parse_args(argv).json  # --help had run the benchmark and replaced the file
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", "HEAD", "src"],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        results = {"before": f"HEAD {head}", "after": "working tree", "cases": {}}
        for case in ("1024", "4096", "stack"):
            before, after = run(Path(tmp) / "src", case), run(ROOT / "src", case)
            results["cases"][case] = {"before": before, "after": after}
            print(case, json.dumps(results["cases"][case]), flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
