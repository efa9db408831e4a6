#!/usr/bin/env python
"""Focus score: throughput on this machine and monotonicity on the real focus stacks (issue 7).

    python benchmarks/focus.py [--json bench_out/focus.json] [--threads 1]

Throughput: ``focus_score`` of 2048 x 2048 uint8 EM tiles (four 1024 x 1024 ssTEM tiles of
../shared/data/em_drosophila_vnc_sstem_gerhard2013 side by side), whole-image score and per-tile
scores (256 px), best of 5, in megapixels per second. Monotonicity: Spearman correlation between
each plane's score and its distance from the in-focus plane, per real stack.
"""

from __future__ import annotations

import argparse
import glob
import json
import re
import time
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def em_tile_2048() -> np.ndarray:
    import tifffile

    root = SHARED / "em_drosophila_vnc_sstem_gerhard2013" / "train"
    planes = [tifffile.imread(p) for p in sorted(root.glob("*.tif"))[:4]]
    return np.block([[planes[0], planes[1]], [planes[2], planes[3]]]).astype(np.uint8)


def throughput(image, repeats: int = 5, **kwargs) -> float:
    from napari_microdeblur.core.focus import focus_score

    focus_score(image, **kwargs)  # warm-up (imports, cached transfer functions)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        focus_score(image, **kwargs)
        best = min(best, time.perf_counter() - t)
    return image.size / best / 1e6


def stacks() -> dict[str, float]:
    import imageio.v3 as iio
    import tifffile
    from scipy.stats import spearmanr

    from napari_microdeblur.core.focus import focus_score

    out = {}
    for name in ("mitochondria_cell2_stack", "microtubules_cell11_stack"):
        files = sorted(glob.glob(str(SHARED / "focus_stack_lightsheet_dfnn" / name / "*.tif")))
        z = np.array([int(re.search(r"Abs00(\d\d)", f).group(1)) for f in files])
        scores = focus_score(np.stack([tifffile.imread(f) for f in files]), axes="ZYX")
        out[f"focus_stack_lightsheet_dfnn/{name}"] = float(spearmanr(scores, np.abs(z - 51))[0])
    # bbbc006: near-focus planes against the far-defocused z00 planes of the same fields
    root = SHARED / "bbbc006_u2os_hoechst_realdefocus"
    near = [
        focus_score(np.asarray(iio.imread(p))) for p in sorted(root.glob("nearfocus_z_aligned/*"))
    ]
    far = [focus_score(tifffile.imread(p)) for p in sorted(root.glob("defocused_z00/*.tif"))]
    out["bbbc006 near-focus min / defocused max"] = float(min(near) / max(far))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = p.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    tile = em_tile_2048()
    result = {
        "image": "2048 x 2048 uint8 EM (Gerhard 2013 ssTEM, 4 tiles)",
        "megapixels_per_s_whole": round(throughput(tile), 1),
        "megapixels_per_s_tiles_256": round(throughput(tile, tile=256), 1),
        "torch_threads": torch.get_num_threads(),
        "spearman": {k: round(v, 3) for k, v in stacks().items()},
    }
    print(f"focus score, {result['image']}, torch threads {result['torch_threads']}:")
    print(f"  whole image  {result['megapixels_per_s_whole']:8.1f} MP/s")
    print(f"  tiles of 256 {result['megapixels_per_s_tiles_256']:8.1f} MP/s")
    for k, v in result["spearman"].items():
        print(f"  {k}: {v}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
