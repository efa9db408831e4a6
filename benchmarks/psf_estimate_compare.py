#!/usr/bin/env python
"""Does a change to ``core.psf_estimate`` change any estimate? Compare two checkouts.

    python benchmarks/psf_estimate_compare.py --baseline-src DIR [--per-set 5] [--json PATH]

For up to ``--per-set`` test images of every set under ../shared/data that has a ``test/``
folder, as read (``raw``) and degraded by protocols A, B and C (seed 0), runs
``estimate_psf`` on ``estimation_plane`` and ``gcv_balance`` for protocol A's PSF, once with
this checkout and once with the ``src`` folder given (each in its own process), and lists every
image whose estimate differs (sigmas, angle, balance). Evaluation data, timed and compared only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from provenance import record  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"

ESTIMATES = """
import glob, json, sys, warnings
import numpy as np
from napari_microdeblur.core import io
from napari_microdeblur.core.axes import check_axes
from napari_microdeblur.core.degrade import degrade
from napari_microdeblur.core.psf import gaussian_psf
from napari_microdeblur.core.psf_estimate import estimate_psf, estimation_plane, gcv_balance
warnings.simplefilter("ignore")
shared, per_set = sys.argv[1], int(sys.argv[2])
out = {}
for folder in sorted(glob.glob(shared + "/*/test")):
    files = sorted(f for f in glob.glob(folder + "/*")
                   if f.lower().endswith((".png", ".tif", ".tiff", ".jpg")))[:per_set]
    for f in files:
        try:
            data = io.read_image(f, lazy=False)
            image = np.asarray(data.array, dtype=np.float32)
            axes = check_axes(data.axes or None, image.shape)
        except Exception:
            continue
        channel = axes.index("S") if "S" in axes else None
        for protocol in ("raw", "A", "B", "C"):
            key = f"{f[len(shared) + 1:]}|{protocol}"
            try:
                x = image if protocol == "raw" else degrade(image, protocol, seed=0,
                                                            channel_axis=channel)
                plane = estimation_plane(x, axes)
                e = estimate_psf(plane)
                out[key] = [e.sigma_major, e.sigma_minor, e.angle_deg, e.balance,
                            gcv_balance(plane, gaussian_psf(1.6))]
            except ValueError as error:
                out[key] = f"refused: {error}"
print(json.dumps(out))
"""


def estimates(src: str | None, per_set: int) -> dict:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run([sys.executable, "-c", ESTIMATES, str(SHARED), str(per_set)],
                          env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-src", required=True)
    parser.add_argument("--per-set", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    base, this = estimates(args.baseline_src, args.per_set), estimates(None, args.per_set)
    differ = {k: {"baseline": base.get(k), "this checkout": this.get(k)}
              for k in sorted(set(base) | set(this)) if base.get(k) != this.get(k)}
    sets = sorted({k.split("/")[0] for k in this})
    print(f"{len(this)} estimates on {len(sets)} sets; {len(differ)} differ")
    for k, v in differ.items():
        print(f"  {k}: {v['baseline']} -> {v['this checkout']}")
    if args.json:
        done = subprocess.run(["git", "-C", args.baseline_src, "rev-parse", "HEAD"],
                              capture_output=True, text=True)
        payload = {"provenance": record(), "baseline_src": args.baseline_src,
                   "baseline_commit": done.stdout.strip() or None, "estimates": len(this),
                   "sets": sets, "differ": differ}
        args.json.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
