"""Tiling overhead of our tiler against the bare forward pass and MONAI's sliding window.

A 64-channel convolutional stand-in network (3 convolutions, halo 3) runs over one real-content
image (a mosaic of the bundled HT29 sample) of --size x --size pixels, tile 256, overlap 32:

* ``tiles_only``: the network on every tile of our plan, batched, no reading/blending/writing:
  the compute the overlap itself costs;
* ``ours``: ``deblur`` through the in-memory Python API (plan, read, merge, write);
* ``monai``: ``monai.inferers.sliding_window_inference`` with the same network, tile, overlap
  and batch size (if installed).

Each runs in its own process so its peak resident memory is its own. Prints a table and JSON.
Usage: python benchmarks/tiling_overhead.py [--size 4096] [--tile 256] [--overlap 32]
"""

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SAMPLE = Path(__file__).parents[1] / "src" / "napari_microdeblur" / "samples" / "ht29_nuclei_hoechst.tif"


def make_image(size: int) -> np.ndarray:
    import tifffile

    tile = tifffile.imread(SAMPLE).astype(np.float32)
    reps = size // tile.shape[0] + 1
    return np.ascontiguousarray(np.tile(tile, (reps, reps))[:size, :size])


def make_net():
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 64, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(64, 64, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(64, 1, 3, padding=1),
    ).eval()
    return net


def run_one(which: str, size: int, tile: int, overlap: int, batch: int, window: str) -> dict:
    import torch

    from napari_microdeblur.core import tiling
    from napari_microdeblur.core.inference import Method, deblur

    image = make_image(size)
    net = make_net()
    with torch.inference_mode():
        net(torch.zeros(1, 1, tile, tile))  # warm-up: first call allocates and picks kernels
    t0 = time.perf_counter()
    if which == "tiles_only":
        plan = tiling.plan_tiles(image.shape, tile, overlap)
        with torch.inference_mode():
            for i in range(0, len(plan.tiles), batch):
                tiles = plan.tiles[i : i + batch]
                x = torch.from_numpy(np.stack([image[t.slices][None] for t in tiles]))
                net(x)
        extra = {"tiles": len(plan.tiles), "tile_area_over_image": len(plan.tiles) * tile * tile / image.size}
    elif which == "ours":
        method = Method("standin", forward=net, halo=3, normalization="none")
        out = deblur(image, method=method, tile=tile, overlap=overlap, window=window,
                     batch_size=batch, device="cpu")
        extra = {"checksum": float(out[::64, ::64].sum())}
    elif which == "monai":
        from monai.inferers import sliding_window_inference

        mode = {"cosine": "gaussian", "gaussian": "gaussian", "constant": "constant"}[window]
        with torch.inference_mode():
            out = sliding_window_inference(
                torch.from_numpy(image)[None, None], roi_size=(tile, tile), sw_batch_size=batch,
                predictor=net, overlap=overlap / tile, mode=mode,
            )
        extra = {"checksum": float(out[0, 0, ::64, ::64].sum()), "mode": mode}
    else:
        raise SystemExit(f"unknown --which {which}")
    seconds = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"which": which, "seconds": round(seconds, 2), "peak_rss_mb": round(peak_mb, 1), **extra}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--overlap", type=int, default=32)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--window", default="cosine")
    parser.add_argument("--which", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.which:
        print(json.dumps(run_one(args.which, args.size, args.tile, args.overlap, args.batch,
                                 args.window)))
        return
    runs = {}
    for which in ("tiles_only", "ours", "monai"):
        cmd = [sys.executable, __file__, "--which", which, "--size", str(args.size), "--tile",
               str(args.tile), "--overlap", str(args.overlap), "--batch", str(args.batch),
               "--window", args.window]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            runs[which] = {"error": done.stderr.strip().splitlines()[-1]}
            continue
        runs[which] = json.loads(done.stdout.strip().splitlines()[-1])
    ours, bare = runs["ours"], runs["tiles_only"]
    summary = {
        "image": [args.size, args.size], "tile": args.tile, "overlap": args.overlap,
        "batch": args.batch, "window": args.window, "runs": runs,
        "overhead_ours_over_tiles_only": round(ours["seconds"] / bare["seconds"], 3),
    }
    if "seconds" in runs.get("monai", {}):
        summary["time_ratio_ours_over_monai"] = round(ours["seconds"] / runs["monai"]["seconds"], 3)
        summary["peak_memory_ratio_ours_over_monai"] = round(
            ours["peak_rss_mb"] / runs["monai"]["peak_rss_mb"], 3)
    print(f"{'run':<12} {'seconds':>8} {'peak RSS MB':>12}")
    for which, r in runs.items():
        print(f"{which:<12} {r.get('seconds', float('nan')):>8} {r.get('peak_rss_mb', float('nan')):>12}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
